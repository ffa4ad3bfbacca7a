//! WeChat's side of a v3 notification: signing with a platform private key and
//! encrypting a resource. For the simulator and tests only (feature `pay-testing`);
//! Patron itself never signs or encrypts notifications.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::Nonce;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use sha2::Sha256;

use super::notification::{ApiV3Key, Resource, ALGORITHM, NONCE_LEN};
use super::{message, Headers};
use crate::pay::PayError;

/// Reads a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`).
pub fn private_key_from_pem(pem: &str) -> Result<RsaPrivateKey, PayError> {
    RsaPrivateKey::from_pkcs8_pem(pem.trim())
        .map_err(|e| PayError::InvalidKey(format!("private key PEM: {e}")))
}

/// The Base64 `Wechatpay-Signature` of `body` sent at `timestamp` with `nonce`:
/// SHA256withRSA, PKCS#1 v1.5, over [`message`].
pub fn sign_for_test(
    private_key: &RsaPrivateKey,
    timestamp: &str,
    nonce: &str,
    body: &[u8],
) -> String {
    let signer = SigningKey::<Sha256>::new(private_key.clone());
    let signature = signer.sign(&message(timestamp, nonce, body));
    STANDARD.encode(signature.to_bytes())
}

/// Borrowed headers for a signed test notification.
pub fn headers<'a>(
    timestamp: &'a str,
    nonce: &'a str,
    signature: &'a str,
    serial: &'a str,
) -> Headers<'a> {
    Headers {
        timestamp,
        nonce,
        signature,
        serial,
    }
}

/// Encrypts `plaintext` as a notification resource: AES-256-GCM with the APIv3 key,
/// the given 12-byte `nonce` and `associated_data`; Base64 of ciphertext ‖ tag.
pub fn encrypt_resource(
    plaintext: &[u8],
    key: &ApiV3Key,
    nonce: &str,
    associated_data: &str,
) -> Result<String, PayError> {
    if nonce.len() != NONCE_LEN {
        return Err(PayError::invalid_field("resource.nonce", nonce));
    }
    let sealed = key
        .cipher()
        .encrypt(
            Nonce::from_slice(nonce.as_bytes()),
            Payload {
                msg: plaintext,
                aad: associated_data.as_bytes(),
            },
        )
        .expect("AES-GCM refuses only plaintexts of more than 64 GiB");
    Ok(STANDARD.encode(sealed))
}

/// A whole [`Resource`] for `plaintext` of type `original_type` (`transaction` or
/// `refund`), with `associated_data` = `original_type` as WeChat sends it.
pub fn resource(
    plaintext: &[u8],
    key: &ApiV3Key,
    nonce: &str,
    original_type: &str,
) -> Result<Resource, PayError> {
    Ok(Resource {
        original_type: original_type.to_string(),
        algorithm: ALGORITHM.to_string(),
        ciphertext: encrypt_resource(plaintext, key, nonce, original_type)?,
        associated_data: original_type.to_string(),
        nonce: nonce.to_string(),
    })
}
