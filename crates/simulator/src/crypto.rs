//! WXBizMsgCrypt as WeChat applies it to pushes (fact sheet §2.2, §2.3): the
//! simulator's own implementation, written apart from `patron_wechat::crypto` so the
//! two check each other.
//!
//! * AESKey = Base64Decode(EncodingAESKey + "="), 32 bytes (the 43rd character's
//!   two spare bits are ignored); AES-256-CBC, IV = AESKey\[0..16\], no cipher
//!   padding.
//! * FullStr = 16 random bytes ‖ message length (u32, big-endian) ‖ message ‖ appid,
//!   PKCS#7-padded by hand to a multiple of **32** bytes.
//! * `Encrypt` = standard Base64 (with `=`) of the ciphertext.
//! * Signatures: lower-hex SHA-1 of the parts sorted byte-wise and concatenated.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::Engine;
use rand::distributions::Alphanumeric;
use rand::Rng;
use sha1::{Digest, Sha1};

/// WeChat's padding block: PKCS#7 pads of 1 to 32 bytes.
const PAD_BLOCK: usize = 32;

/// Decodes EncodingAESKeys, whose last character carries two bits past the key.
const KEY_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// The 32-byte AES key of a 43-character EncodingAESKey (`[A-Za-z0-9]`), or `None`
/// if it is not one.
pub fn aes_key(encoding_aes_key: &str) -> Option<[u8; 32]> {
    if encoding_aes_key.len() != 43 || !encoding_aes_key.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return None;
    }
    KEY_ENGINE
        .decode(format!("{encoding_aes_key}="))
        .ok()?
        .try_into()
        .ok()
}

/// Encrypts `msg` for `appid` with the given 16 leading bytes; the Base64 `Encrypt`
/// text.
pub fn encrypt(key: &[u8; 32], appid: &str, msg: &[u8], random16: [u8; 16]) -> String {
    let len = u32::try_from(msg.len()).expect("a push is far below 4 GiB");
    let mut buf = Vec::with_capacity(20 + msg.len() + appid.len() + PAD_BLOCK);
    buf.extend_from_slice(&random16);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(msg);
    buf.extend_from_slice(appid.as_bytes());
    let pad = PAD_BLOCK - buf.len() % PAD_BLOCK;
    buf.resize(buf.len() + pad, pad as u8);
    let n = buf.len();
    cbc::Encryptor::<aes::Aes256>::new(
        GenericArray::from_slice(key),
        GenericArray::from_slice(&key[..16]),
    )
    .encrypt_padded_mut::<NoPadding>(&mut buf, n)
    .expect("whole blocks");
    STANDARD.encode(buf)
}

/// Encrypts with 16 fresh random ASCII alphanumerics in front, as WeChat's samples do.
pub fn encrypt_fresh(key: &[u8; 32], appid: &str, msg: &[u8]) -> String {
    let mut random16 = [0u8; 16];
    let mut rng = rand::thread_rng();
    for b in &mut random16 {
        *b = rng.sample(Alphanumeric);
    }
    encrypt(key, appid, msg, random16)
}

/// Decrypts an `Encrypt` text (an encrypted passive reply, say) and returns the
/// message; `None` unless the Base64, the padding, the length and the trailing
/// appid all check out.
pub fn decrypt(key: &[u8; 32], appid: &str, encrypt: &str) -> Option<Vec<u8>> {
    let mut buf = STANDARD.decode(encrypt).ok()?;
    if buf.is_empty() || buf.len() % 16 != 0 {
        return None;
    }
    let plain = cbc::Decryptor::<aes::Aes256>::new(
        GenericArray::from_slice(key),
        GenericArray::from_slice(&key[..16]),
    )
    .decrypt_padded_mut::<NoPadding>(&mut buf)
    .ok()?;
    let pad = usize::from(*plain.last()?);
    if pad == 0 || pad > PAD_BLOCK || pad > plain.len() {
        return None;
    }
    let (full, padding) = plain.split_at(plain.len() - pad);
    if padding.iter().any(|&b| usize::from(b) != pad) || full.len() < 20 {
        return None;
    }
    let len = u32::from_be_bytes(full[16..20].try_into().ok()?) as usize;
    let rest = &full[20..];
    if len > rest.len() || &rest[len..] != appid.as_bytes() {
        return None;
    }
    Some(rest[..len].to_vec())
}

/// `lower-hex(SHA1(concat(sort(parts))))`: the `signature` over
/// `[token, timestamp, nonce]`, the `msg_signature` over those and the `Encrypt` text.
pub fn signature(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    let mut sha = Sha1::new();
    for part in sorted {
        sha.update(part.as_bytes());
    }
    sha.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
