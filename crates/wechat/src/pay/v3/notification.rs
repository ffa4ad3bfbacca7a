//! The v3 notification body, its AES-256-GCM `resource`, and the typed plaintexts.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, Key, KeyInit, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::pay::PayError;

/// The only `resource.algorithm` WeChat Pay uses.
pub const ALGORITHM: &str = "AEAD_AES_256_GCM";
/// GCM nonce length WeChat uses (`resource.nonce`, 12 ASCII characters).
pub const NONCE_LEN: usize = 12;
/// GCM tag length, appended to the ciphertext before Base64.
pub const TAG_LEN: usize = 16;

/// The merchant's APIv3 key: 32 bytes (32 ASCII characters in the merchant platform).
/// `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiV3Key([u8; 32]);

impl ApiV3Key {
    /// The key as configured: its UTF-8 bytes must be exactly 32.
    pub fn new(key: &str) -> Result<ApiV3Key, PayError> {
        let bytes: [u8; 32] = key.as_bytes().try_into().map_err(|_| {
            PayError::InvalidKey(format!("APIv3 key is {} bytes, not 32", key.len()))
        })?;
        Ok(ApiV3Key(bytes))
    }

    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> ApiV3Key {
        ApiV3Key(bytes)
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub(crate) fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.0))
    }
}

impl std::fmt::Debug for ApiV3Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiV3Key(<redacted>)")
    }
}

/// A notification body. Unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The notification id (the same across WeChat's retries of one event).
    pub id: String,
    /// When the notification was created, RFC 3339 (`2015-05-20T13:29:35+08:00`).
    pub create_time: String,
    /// `encrypt-resource`.
    pub resource_type: String,
    /// `TRANSACTION.SUCCESS`, `REFUND.SUCCESS`, `REFUND.ABNORMAL`, `REFUND.CLOSED`, …
    pub event_type: String,
    /// A human summary (`支付成功`).
    #[serde(default)]
    pub summary: String,
    /// The encrypted payload.
    pub resource: Resource,
}

/// The encrypted payload of a notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// What the plaintext is: `transaction` or `refund`.
    #[serde(default)]
    pub original_type: String,
    /// Must be [`ALGORITHM`].
    pub algorithm: String,
    /// Base64 of ciphertext ‖ 16-byte tag.
    pub ciphertext: String,
    /// The GCM associated data; may be empty or absent.
    #[serde(default)]
    pub associated_data: String,
    /// The 12-character GCM nonce.
    pub nonce: String,
}

impl Envelope {
    /// Reads a body (after [`super::verify`] has checked it byte for byte).
    pub fn parse(body: &[u8]) -> Result<Envelope, PayError> {
        serde_json::from_slice(body).map_err(|e| PayError::Malformed(format!("JSON: {e}")))
    }

    /// Decrypts the resource ([`decrypt_resource`]).
    pub fn decrypt(&self, key: &ApiV3Key) -> Result<Vec<u8>, PayError> {
        decrypt_resource(&self.resource, key)
    }

    /// Decrypts the resource and reads it as a payment.
    pub fn transaction(&self, key: &ApiV3Key) -> Result<Transaction, PayError> {
        self.decrypt_as(key, "transaction")
    }

    /// Decrypts the resource and reads it as a refund.
    pub fn refund(&self, key: &ApiV3Key) -> Result<Refund, PayError> {
        self.decrypt_as(key, "refund")
    }

    fn decrypt_as<T: serde::de::DeserializeOwned>(
        &self,
        key: &ApiV3Key,
        original_type: &str,
    ) -> Result<T, PayError> {
        if !self.resource.original_type.is_empty() && self.resource.original_type != original_type {
            return Err(PayError::Malformed(format!(
                "resource is a {:?}, not a {original_type}",
                self.resource.original_type
            )));
        }
        let plain = self.decrypt(key)?;
        serde_json::from_slice(&plain)
            .map_err(|e| PayError::Malformed(format!("{original_type} JSON: {e}")))
    }
}

/// Decrypts a notification resource with the APIv3 key: AES-256-GCM, nonce =
/// `resource.nonce`, AAD = `resource.associated_data`, input = Base64-decoded
/// `ciphertext` (ciphertext ‖ tag).
///
/// Errors: [`PayError::WrongAlgorithm`]; [`PayError::InvalidField`] for a nonce that is
/// not 12 bytes; [`PayError::Malformed`] for bad Base64; [`PayError::Decrypt`] when the
/// tag does not match (wrong key; ciphertext, nonce or associated data altered) or the
/// input is shorter than a tag.
pub fn decrypt_resource(resource: &Resource, key: &ApiV3Key) -> Result<Vec<u8>, PayError> {
    if resource.algorithm != ALGORITHM {
        return Err(PayError::WrongAlgorithm(
            resource.algorithm.chars().take(64).collect(),
        ));
    }
    if resource.nonce.len() != NONCE_LEN {
        return Err(PayError::invalid_field("resource.nonce", &resource.nonce));
    }
    let sealed = STANDARD
        .decode(resource.ciphertext.trim())
        .map_err(|_| PayError::Malformed("resource.ciphertext is not Base64".into()))?;
    if sealed.len() < TAG_LEN {
        return Err(PayError::Decrypt);
    }
    key.cipher()
        .decrypt(
            Nonce::from_slice(resource.nonce.as_bytes()),
            Payload {
                msg: &sealed,
                aad: resource.associated_data.as_bytes(),
            },
        )
        .map_err(|_| PayError::Decrypt)
}

/// A payment (`original_type` `transaction`, event `TRANSACTION.SUCCESS`), direct
/// merchant mode. Amounts in fen. Fields WeChat adds later are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// The merchant number.
    pub mchid: String,
    /// The OA (or mini program) the payment was made in.
    pub appid: String,
    /// Our order number.
    pub out_trade_no: String,
    /// WeChat's order number.
    pub transaction_id: String,
    /// `JSAPI`, `NATIVE`, `APP`, `MICROPAY`, `MWEB`, `FACEPAY`.
    #[serde(default)]
    pub trade_type: String,
    /// `SUCCESS` for a paid order (also `REFUND`, `NOTPAY`, `CLOSED`, … in queries).
    pub trade_state: String,
    /// The state in words.
    #[serde(default)]
    pub trade_state_desc: String,
    /// The payer's funding source.
    #[serde(default)]
    pub bank_type: String,
    /// The merchant's data passed through the order.
    #[serde(default)]
    pub attach: String,
    /// When the payment completed, RFC 3339.
    #[serde(default)]
    pub success_time: Option<String>,
    /// Who paid.
    pub payer: Payer,
    /// How much.
    pub amount: TransactionAmount,
    /// Coupons and discounts applied, if any.
    #[serde(default)]
    pub promotion_detail: Vec<PromotionDetail>,
}

/// `payer` of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payer {
    /// The payer's openid under `appid`.
    pub openid: String,
}

/// `amount` of a transaction, in fen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionAmount {
    /// The order amount.
    pub total: i64,
    /// What the payer paid (the order less coupons).
    pub payer_total: i64,
    /// The order currency (`CNY`).
    #[serde(default)]
    pub currency: String,
    /// The payer's currency.
    #[serde(default)]
    pub payer_currency: String,
}

/// One `promotion_detail` entry (a coupon or discount). Only the common fields are
/// read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotionDetail {
    /// The coupon id.
    pub coupon_id: String,
    /// The coupon name.
    #[serde(default)]
    pub name: String,
    /// `GLOBAL` or `SINGLE`.
    #[serde(default)]
    pub scope: String,
    /// `CASH` (pre-funded) or `NOCASH`.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// The coupon's amount, fen.
    pub amount: i64,
    /// The batch id.
    #[serde(default)]
    pub stock_id: String,
    /// WeChat's contribution, fen.
    #[serde(default)]
    pub wechatpay_contribute: i64,
    /// The merchant's contribution, fen.
    #[serde(default)]
    pub merchant_contribute: i64,
    /// Others' contribution, fen.
    #[serde(default)]
    pub other_contribute: i64,
    /// Currency.
    #[serde(default)]
    pub currency: String,
}

/// A refund (`original_type` `refund`; events `REFUND.SUCCESS`, `REFUND.ABNORMAL`,
/// `REFUND.CLOSED`). Amounts in fen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// The merchant number.
    pub mchid: String,
    /// Our order number.
    pub out_trade_no: String,
    /// WeChat's order number.
    pub transaction_id: String,
    /// Our refund number.
    pub out_refund_no: String,
    /// WeChat's refund number.
    pub refund_id: String,
    /// `SUCCESS`, `CLOSED`, `ABNORMAL`.
    pub refund_status: String,
    /// When the refund succeeded, RFC 3339 (with `SUCCESS`).
    #[serde(default)]
    pub success_time: Option<String>,
    /// Where the money went (`招商银行信用卡0403`, `支付用户零钱`).
    #[serde(default)]
    pub user_received_account: String,
    /// How much.
    pub amount: RefundAmount,
}

/// `amount` of a refund, in fen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundAmount {
    /// The order amount.
    pub total: i64,
    /// The refund.
    pub refund: i64,
    /// What the payer paid.
    pub payer_total: i64,
    /// What goes back to the payer.
    pub payer_refund: i64,
}
