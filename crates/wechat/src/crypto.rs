//! Message encryption of safe and compatible mode: the WXBizMsgCrypt scheme
//! (fact sheet §2.3).
//!
//! * AESKey = Base64Decode(EncodingAESKey + "="), 32 bytes; AES-256-CBC with
//!   IV = AESKey\[0..16\].
//! * Plaintext ("FullStr") = random(16) ‖ msg_len (u32 big-endian) ‖ msg ‖ appid.
//! * Padding is PKCS#7 to **32-byte** blocks (pad values 1..=32), applied by hand;
//!   the cipher itself runs with `NoPadding`.
//! * `Encrypt` = standard Base64 (with `=`) of the ciphertext.
//!
//! Verify `msg_signature` ([`crate::signature::verify_msg_signature`]) before calling
//! [`decrypt`]: the scheme has no MAC, and the distinct errors below would otherwise
//! make a padding oracle.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use rand::distributions::Alphanumeric;
use rand::Rng;

use crate::Error;

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// WeChat's PKCS#7 block size: pads run from 1 to 32 bytes.
pub const PAD_BLOCK: usize = 32;
/// Length of the EncodingAESKey configured in the OA console.
pub const ENCODING_AES_KEY_LEN: usize = 43;

const RANDOM_LEN: usize = 16;
const HEADER_LEN: usize = RANDOM_LEN + 4;
const AES_BLOCK: usize = 16;

/// Decoder for the EncodingAESKey. Its 43rd character carries two bits beyond the 32
/// key bytes, and these are often non-zero (the docs' own example key), which a
/// strict Base64 decoder refuses.
const KEY_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// A 32-byte AES key derived from an EncodingAESKey. `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct AesKey([u8; 32]);

impl AesKey {
    /// Decodes the 43-character EncodingAESKey (`[A-Za-z0-9]` only) into the AES key.
    pub fn from_encoding_aes_key(encoding_aes_key: &str) -> Result<AesKey, Error> {
        if encoding_aes_key.len() != ENCODING_AES_KEY_LEN
            || !encoding_aes_key.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(Error::InvalidAesKey);
        }
        let padded = format!("{encoding_aes_key}=");
        let bytes = KEY_ENGINE
            .decode(padded)
            .map_err(|_| Error::InvalidAesKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| Error::InvalidAesKey)?;
        Ok(AesKey(key))
    }

    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> AesKey {
        AesKey(bytes)
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn iv(&self) -> &[u8] {
        &self.0[..AES_BLOCK]
    }
}

impl std::fmt::Debug for AesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AesKey(<redacted>)")
    }
}

/// Which key of a rotation pair opened a message; reply with the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUsed {
    /// The EncodingAESKey currently configured.
    Current,
    /// The key configured before the last change.
    Previous,
}

/// A decrypted FullStr, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plaintext {
    /// The 16 random bytes the sender put in front.
    pub random16: [u8; 16],
    /// The message (UTF-8 XML or JSON in practice; not checked here).
    pub msg: Vec<u8>,
    /// The PKCS#7 pad length that was removed (1..=32).
    pub pad_len: u8,
}

/// Encrypts `msg` for `appid` with caller-chosen random bytes and returns the
/// Base64 `Encrypt` text. Deterministic; use [`encrypt_fresh`] in production.
///
/// # Panics
///
/// If `msg` is longer than `u32::MAX` bytes, which the length field cannot express.
pub fn encrypt(key: &AesKey, appid: &str, msg: &[u8], random16: [u8; 16]) -> String {
    let msg_len = u32::try_from(msg.len()).expect("message longer than 4 GiB");
    let mut full = Vec::with_capacity(HEADER_LEN + msg.len() + appid.len() + PAD_BLOCK);
    full.extend_from_slice(&random16);
    full.extend_from_slice(&msg_len.to_be_bytes());
    full.extend_from_slice(msg);
    full.extend_from_slice(appid.as_bytes());
    pad32(&mut full);
    aes_cbc_encrypt_in_place(key, &mut full);
    STANDARD.encode(full)
}

/// Encrypts `msg` for `appid` with 16 fresh random ASCII alphanumerics, as the
/// official samples and wechatpy do.
pub fn encrypt_fresh(key: &AesKey, appid: &str, msg: &[u8]) -> String {
    encrypt(key, appid, msg, random16())
}

/// 16 random ASCII alphanumeric bytes from the thread-local CSPRNG.
pub fn random16() -> [u8; 16] {
    let mut out = [0u8; 16];
    let mut rng = rand::thread_rng();
    for b in &mut out {
        *b = rng.sample(Alphanumeric);
    }
    out
}

/// Decrypts an `Encrypt` text, checks the appid and returns the message bytes.
pub fn decrypt(key: &AesKey, expected_appid: &str, encrypt_b64: &str) -> Result<Vec<u8>, Error> {
    decrypt_parts(key, expected_appid, encrypt_b64).map(|p| p.msg)
}

/// Like [`decrypt`], but returns every part of the plaintext.
///
/// Checks, in order: canonical Base64 ([`Error::BadBase64`]); ciphertext length a
/// positive multiple of 16 ([`Error::BadLength`]); last byte in 1..=32 and all pad
/// bytes equal ([`Error::BadPadding`]); header present and `msg_len` within the
/// remaining bytes ([`Error::BadMsgLen`]); the rest equal to `expected_appid`
/// ([`Error::AppIdMismatch`]).
pub fn decrypt_parts(
    key: &AesKey,
    expected_appid: &str,
    encrypt_b64: &str,
) -> Result<Plaintext, Error> {
    let mut buf = STANDARD.decode(encrypt_b64).map_err(|_| Error::BadBase64)?;
    if buf.is_empty() || buf.len() % AES_BLOCK != 0 {
        return Err(Error::BadLength(buf.len()));
    }
    aes_cbc_decrypt_in_place(key, &mut buf);

    let pad_len = unpad32(&buf)?;
    let full = &buf[..buf.len() - usize::from(pad_len)];
    if full.len() < HEADER_LEN {
        return Err(Error::BadMsgLen {
            declared: 0,
            available: 0,
        });
    }
    let mut random16 = [0u8; 16];
    random16.copy_from_slice(&full[..RANDOM_LEN]);
    let mut len_bytes = [0u8; 4];
    len_bytes.copy_from_slice(&full[RANDOM_LEN..HEADER_LEN]);
    let declared = u32::from_be_bytes(len_bytes);
    let rest = &full[HEADER_LEN..];
    let msg_len = usize::try_from(declared).unwrap_or(usize::MAX);
    if msg_len > rest.len() {
        return Err(Error::BadMsgLen {
            declared: u64::from(declared),
            available: rest.len(),
        });
    }
    let (msg, appid) = rest.split_at(msg_len);
    if appid != expected_appid.as_bytes() {
        return Err(Error::AppIdMismatch);
    }
    Ok(Plaintext {
        random16,
        msg: msg.to_vec(),
        pad_len,
    })
}

/// Decrypts with the current key and, if that fails and a previous key is
/// configured, with the previous one (EncodingAESKey rotation).
///
/// When both fail, the error is the one from the current key.
pub fn decrypt_with_rotation(
    current: &AesKey,
    previous: Option<&AesKey>,
    expected_appid: &str,
    encrypt_b64: &str,
) -> Result<(Vec<u8>, KeyUsed), Error> {
    match decrypt(current, expected_appid, encrypt_b64) {
        Ok(msg) => Ok((msg, KeyUsed::Current)),
        Err(current_err) => match previous {
            Some(prev) => decrypt(prev, expected_appid, encrypt_b64)
                .map(|msg| (msg, KeyUsed::Previous))
                .map_err(|_| current_err),
            None => Err(current_err),
        },
    }
}

/// Appends PKCS#7 padding to a multiple of 32 bytes (a whole block of 32 × 0x20
/// when already aligned).
fn pad32(buf: &mut Vec<u8>) {
    let pad = PAD_BLOCK - buf.len() % PAD_BLOCK;
    // pad is in 1..=32, so it fits a byte.
    buf.resize(buf.len() + pad, pad as u8);
}

/// Returns the pad length of a 32-block PKCS#7 padded buffer.
fn unpad32(buf: &[u8]) -> Result<u8, Error> {
    let pad = *buf.last().ok_or(Error::BadPadding)?;
    let n = usize::from(pad);
    if n == 0 || n > PAD_BLOCK || n > buf.len() {
        return Err(Error::BadPadding);
    }
    if buf[buf.len() - n..].iter().any(|&b| b != pad) {
        return Err(Error::BadPadding);
    }
    Ok(pad)
}

/// AES-256-CBC over whole 16-byte blocks, IV = key\[0..16\]. `buf.len()` must be a
/// multiple of 16.
pub(crate) fn aes_cbc_encrypt_in_place(key: &AesKey, buf: &mut [u8]) {
    let len = buf.len();
    debug_assert_eq!(len % AES_BLOCK, 0);
    Aes256CbcEnc::new(
        GenericArray::from_slice(key.as_bytes()),
        GenericArray::from_slice(key.iv()),
    )
    .encrypt_padded_mut::<NoPadding>(buf, len)
    .expect("length is a multiple of the block size");
}

fn aes_cbc_decrypt_in_place(key: &AesKey, buf: &mut [u8]) {
    debug_assert_eq!(buf.len() % AES_BLOCK, 0);
    Aes256CbcDec::new(
        GenericArray::from_slice(key.as_bytes()),
        GenericArray::from_slice(key.iv()),
    )
    .decrypt_padded_mut::<NoPadding>(buf)
    .expect("length is a multiple of the block size");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs_key() -> AesKey {
        AesKey::from_encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap()
    }

    fn zero_key() -> AesKey {
        AesKey::from_encoding_aes_key(&"A".repeat(43)).unwrap()
    }

    /// Encrypts an arbitrary plaintext buffer (already block-aligned) as WeChat would.
    fn raw_encrypt(key: &AesKey, mut plain: Vec<u8>) -> String {
        aes_cbc_encrypt_in_place(key, &mut plain);
        STANDARD.encode(plain)
    }

    fn full_str(msg: &[u8], appid: &str, declared: u32) -> Vec<u8> {
        let mut v = b"0123456789abcdef".to_vec();
        v.extend_from_slice(&declared.to_be_bytes());
        v.extend_from_slice(msg);
        v.extend_from_slice(appid.as_bytes());
        v
    }

    #[test]
    fn docs_key_with_trailing_bits_decodes() {
        assert_eq!(
            hex::encode(docs_key().as_bytes()),
            "69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051"
        );
        assert_eq!(zero_key().as_bytes(), &[0u8; 32]);
    }

    #[test]
    fn bad_keys_are_refused() {
        for bad in [
            "",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF+",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF=",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEé",
        ] {
            assert_eq!(
                AesKey::from_encoding_aes_key(bad),
                Err(Error::InvalidAesKey),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn debug_does_not_print_the_key() {
        assert_eq!(format!("{:?}", docs_key()), "AesKey(<redacted>)");
    }

    #[test]
    fn round_trip_for_every_pad_length() {
        let key = docs_key();
        let appid = "wx2c2769f8efd9abc2"; // 18 bytes: header + appid = 38
        for len in 0..80 {
            let msg: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let enc = encrypt(&key, appid, &msg, *b"ABCDEFGHIJKLMNOP");
            let p = decrypt_parts(&key, appid, &enc).unwrap();
            assert_eq!(p.msg, msg);
            assert_eq!(p.random16, *b"ABCDEFGHIJKLMNOP");
            let full = 20 + len + appid.len();
            assert_eq!(usize::from(p.pad_len), 32 - full % 32);
            assert_eq!(
                STANDARD.decode(&enc).unwrap().len(),
                full + usize::from(p.pad_len)
            );
        }
    }

    #[test]
    fn fresh_random_is_alphanumeric_and_varies() {
        let a = random16();
        let b = random16();
        assert!(a.iter().all(u8::is_ascii_alphanumeric));
        assert_ne!(a, b);
        let key = zero_key();
        let e1 = encrypt_fresh(&key, "wxapp", b"hi");
        let e2 = encrypt_fresh(&key, "wxapp", b"hi");
        assert_ne!(e1, e2);
        let p = decrypt_parts(&key, "wxapp", &e1).unwrap();
        assert!(p.random16.iter().all(u8::is_ascii_alphanumeric));
        assert_eq!(p.msg, b"hi");
    }

    #[test]
    fn appid_mismatch() {
        let key = docs_key();
        let enc = encrypt(&key, "wx2c2769f8efd9abc2", b"<xml/>", [b'x'; 16]);
        assert_eq!(
            decrypt(&key, "wx2c2769f8efd9abc3", &enc),
            Err(Error::AppIdMismatch)
        );
        assert_eq!(
            decrypt(&key, "wx2c2769f8efd9abc", &enc),
            Err(Error::AppIdMismatch)
        );
        assert_eq!(decrypt(&key, "", &enc), Err(Error::AppIdMismatch));
    }

    #[test]
    fn tampered_ciphertext_is_refused() {
        let key = docs_key();
        let appid = "wx2c2769f8efd9abc2";
        let enc = encrypt(
            &key,
            appid,
            b"<xml><Content>hello</Content></xml>",
            [b'r'; 16],
        );
        let mut raw = STANDARD.decode(&enc).unwrap();
        // Flip each byte in turn: the result must never decrypt to the original.
        for i in 0..raw.len() {
            raw[i] ^= 0x01;
            let tampered = STANDARD.encode(&raw);
            match decrypt(&key, appid, &tampered) {
                Ok(msg) => assert_ne!(msg, b"<xml><Content>hello</Content></xml>"),
                Err(e) => assert!(matches!(
                    e,
                    Error::BadPadding | Error::BadMsgLen { .. } | Error::AppIdMismatch
                )),
            }
            raw[i] ^= 0x01;
        }
        // Flipping a bit of the last block ruins the padding or the appid.
        let last = raw.len() - 1;
        raw[last - 20] ^= 0x80;
        assert!(decrypt(&key, appid, &STANDARD.encode(&raw)).is_err());
    }

    #[test]
    fn wrong_key_is_refused() {
        let enc = encrypt(&docs_key(), "wxapp", b"hello", [b'r'; 16]);
        assert!(decrypt(&zero_key(), "wxapp", &enc).is_err());
    }

    #[test]
    fn bad_base64_and_lengths() {
        let key = docs_key();
        assert_eq!(decrypt(&key, "wx", "not base64!"), Err(Error::BadBase64));
        assert_eq!(decrypt(&key, "wx", "QUJD="), Err(Error::BadBase64));
        assert_eq!(decrypt(&key, "wx", ""), Err(Error::BadLength(0)));
        assert_eq!(
            decrypt(&key, "wx", &STANDARD.encode([0u8; 17])),
            Err(Error::BadLength(17))
        );
    }

    #[test]
    fn wrong_padding_is_refused() {
        let key = docs_key();
        let appid = "wxapp"; // header 20 + msg 7 + appid 5 = 32
        let base = full_str(b"<xml/>x", appid, 7);
        assert_eq!(base.len(), 32);

        // Pad value 0.
        let mut p = base.clone();
        p.extend_from_slice(&[0u8; 32]);
        assert_eq!(
            decrypt(&key, appid, &raw_encrypt(&key, p)),
            Err(Error::BadPadding)
        );

        // Pad value 33 (beyond the 32-byte block).
        let mut p = base.clone();
        p.extend_from_slice(&[33u8; 32]);
        assert_eq!(
            decrypt(&key, appid, &raw_encrypt(&key, p)),
            Err(Error::BadPadding)
        );

        // Pad bytes not all equal.
        let mut p = base.clone();
        let mut pad = [32u8; 32];
        pad[3] = 31;
        p.extend_from_slice(&pad);
        assert_eq!(
            decrypt(&key, appid, &raw_encrypt(&key, p)),
            Err(Error::BadPadding)
        );

        // The correct full block of 32 × 0x20 is accepted.
        let mut p = base.clone();
        p.extend_from_slice(&[32u8; 32]);
        let out = decrypt_parts(&key, appid, &raw_encrypt(&key, p)).unwrap();
        assert_eq!(out.msg, b"<xml/>x");
        assert_eq!(out.pad_len, 32);

        // 16-byte-block PKCS#7 (pad 16 on a 48-byte buffer) is also well-formed
        // under the 32 rule and accepted, as WeChat's own decoders do.
        let mut p = base;
        p.extend_from_slice(&[16u8; 16]);
        assert_eq!(
            decrypt(&key, appid, &raw_encrypt(&key, p)).unwrap(),
            b"<xml/>x"
        );
    }

    #[test]
    fn msg_len_out_of_bounds() {
        let key = docs_key();
        let appid = "wxapp";
        let mut p = full_str(b"<xml/>x", appid, 13); // 13 > 7 + 5
        p.extend_from_slice(&[32u8; 32]);
        assert_eq!(
            decrypt(&key, appid, &raw_encrypt(&key, p)),
            Err(Error::BadMsgLen {
                declared: 13,
                available: 12
            })
        );
        let mut p = full_str(b"", "", u32::MAX);
        p.extend_from_slice(&[12u8; 12]);
        assert!(matches!(
            decrypt(&key, appid, &raw_encrypt(&key, p)),
            Err(Error::BadMsgLen {
                declared: 4_294_967_295,
                ..
            })
        ));
        // Shorter than the header: 16 random bytes and a 16-byte pad.
        let mut p = vec![b'r'; 16];
        p.extend_from_slice(&[16u8; 16]);
        assert!(matches!(
            decrypt(&key, appid, &raw_encrypt(&key, p)),
            Err(Error::BadMsgLen { .. })
        ));
    }

    #[test]
    fn rotation_uses_previous_key() {
        let old = docs_key();
        let new =
            AesKey::from_encoding_aes_key("kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR").unwrap();
        let appid = "wxapp";
        let by_old = encrypt(&old, appid, b"old", [b'o'; 16]);
        let by_new = encrypt(&new, appid, b"new", [b'n'; 16]);

        assert_eq!(
            decrypt_with_rotation(&new, Some(&old), appid, &by_new).unwrap(),
            (b"new".to_vec(), KeyUsed::Current)
        );
        assert_eq!(
            decrypt_with_rotation(&new, Some(&old), appid, &by_old).unwrap(),
            (b"old".to_vec(), KeyUsed::Previous)
        );
        assert!(decrypt_with_rotation(&new, None, appid, &by_old).is_err());
        let third = zero_key();
        assert!(decrypt_with_rotation(&third, Some(&new), appid, &by_old).is_err());
        // Wrong appid fails with both keys.
        assert!(decrypt_with_rotation(&new, Some(&old), "wxother", &by_old).is_err());
    }
}
