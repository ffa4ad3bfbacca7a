//! Byte-exact reproductions of the protocol sheet's test vectors.

use crate::crypto::{decrypt, decrypt_parts, decrypt_with_rotation, encrypt, AesKey, KeyUsed};
use crate::reply::encrypted_reply_with_random;
use crate::signature::{msg_signature, url_signature, verify_msg_signature, verify_url_signature};
use crate::xml::{parse_envelope, parse_message, Event, Message};
use crate::Error;

fn zero_key() -> AesKey {
    AesKey::from_encoding_aes_key("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap()
}

/// Every part of an encrypted-reply envelope, read back with our own parser.
fn reply_parts(envelope: &str) -> (String, String, String, String) {
    let env = parse_envelope(envelope).unwrap();
    assert_eq!(env.root.children.len(), 4, "{envelope}");
    (
        env.encrypt.clone().unwrap(),
        env.fields["MsgSignature"].clone(),
        env.fields["TimeStamp"].clone(),
        env.fields["Nonce"].clone(),
    )
}

mod v1_official_sample {
    use super::*;

    const TOKEN: &str = "spamtest";
    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    const APPID: &str = "wx2c2769f8efd9abc2";
    const TIMESTAMP: &str = "1409735669";
    const NONCE: &str = "1320562132";
    const MSG_SIGNATURE: &str = "5d197aaffba7e9b25a30732f161a50dee96bd5fa";
    pub(super) const ENCRYPT: &str = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=";

    /// The compatible-mode shaped body of the official `Sample.py`.
    fn body() -> String {
        format!(
            "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\
             <CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]></Content>\
             <MsgId>6054768590064713728</MsgId><Encrypt><![CDATA[{ENCRYPT}]]></Encrypt></xml>"
        )
    }

    #[test]
    fn signature() {
        assert_eq!(
            msg_signature(TOKEN, TIMESTAMP, NONCE, ENCRYPT),
            MSG_SIGNATURE
        );
        assert!(verify_msg_signature(
            MSG_SIGNATURE,
            TOKEN,
            TIMESTAMP,
            NONCE,
            ENCRYPT
        ));
        assert!(!verify_msg_signature(
            MSG_SIGNATURE,
            TOKEN,
            TIMESTAMP,
            "1320562133",
            ENCRYPT
        ));
    }

    #[test]
    fn decrypt_exactly() {
        let key = AesKey::from_encoding_aes_key(KEY).unwrap();
        let p = decrypt_parts(&key, APPID, ENCRYPT).unwrap();
        assert_eq!(&p.random16, b"89465c840c5f116f");
        assert_eq!(p.msg.len(), 280);
        assert_eq!(p.pad_len, 2);
        let m = parse_message(&p.msg).unwrap();
        assert_eq!(m.header.to_user, "gh_10f6c3c3ac5a");
        assert_eq!(m.header.from_user, "oyORnuP8q7ou2gfYjqLzSIWZf0rs");
        assert_eq!(m.header.create_time, 1409735668);
        match &m.message {
            Message::Text(t) => {
                assert_eq!(t.content, "abcdteT");
                assert_eq!(t.msg_id, 6054768590064713728);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(m.dedupe_key(), "msg:6054768590064713728");
    }

    #[test]
    fn compatible_mode_body() {
        let env = parse_envelope(body()).unwrap();
        assert_eq!(env.to_user_name.as_deref(), Some("gh_10f6c3c3ac5a"));
        assert_eq!(env.encrypt.as_deref(), Some(ENCRYPT));
        // Plaintext copy and encrypted copy agree.
        let plain = env.plaintext_message().unwrap();
        let key = AesKey::from_encoding_aes_key(KEY).unwrap();
        let decrypted = parse_message(decrypt(&key, APPID, ENCRYPT).unwrap()).unwrap();
        assert_eq!(plain.header, decrypted.header);
        assert_eq!(plain.message, decrypted.message);
        assert_eq!(
            plain.fields.get("Encrypt").map(String::as_str),
            Some(ENCRYPT)
        );
    }

    #[test]
    fn wrong_appid() {
        let key = AesKey::from_encoding_aes_key(KEY).unwrap();
        assert_eq!(
            decrypt(&key, "wx2c2769f8efd9abc3", ENCRYPT),
            Err(Error::AppIdMismatch)
        );
    }
}

mod v2_json_safe_mode {
    use super::*;

    const TOKEN: &str = "AAAAA";
    const APPID: &str = "wxba5fad812f8e6fb9";
    const TIMESTAMP: &str = "1714112445";
    const NONCE: &str = "415670741";
    const ENCRYPT: &str = "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04=";
    const MSG: &str = r#"{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","CreateTime":1714112445,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}"#;

    #[test]
    fn signatures() {
        assert_eq!(
            url_signature(TOKEN, TIMESTAMP, NONCE),
            "6c5c811b55cc85e0e1b54100749188c20beb3f5d"
        );
        assert!(verify_url_signature(
            "6c5c811b55cc85e0e1b54100749188c20beb3f5d",
            TOKEN,
            TIMESTAMP,
            NONCE
        ));
        assert_eq!(
            msg_signature(TOKEN, TIMESTAMP, NONCE, ENCRYPT),
            "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3"
        );
    }

    #[test]
    fn decrypt_with_pad_19() {
        assert_eq!(zero_key().as_bytes(), &[0u8; 32]);
        let p = decrypt_parts(&zero_key(), APPID, ENCRYPT).unwrap();
        assert_eq!(&p.random16, b"a8eedb185eb2fecf");
        assert_eq!(p.msg.len(), 167);
        assert_eq!(p.pad_len, 19);
        assert_eq!(p.msg, MSG.as_bytes());
    }

    #[test]
    fn reply_encryption() {
        let reply = r#"{"demo_resp":"good luck"}"#;
        assert_eq!(reply.len(), 25);
        let enc = encrypt(&zero_key(), APPID, reply.as_bytes(), *b"707722b803182950");
        assert_eq!(
            enc,
            "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ=="
        );
        assert_eq!(
            msg_signature(TOKEN, "1713424427", "415670741", &enc),
            "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1"
        );
    }
}

mod v3_xml_safe_mode {
    use super::*;

    const TOKEN: &str = "AAAAA";
    const APPID: &str = "wx134c8103faa5a59e";
    const TIMESTAMP: &str = "1715943329";
    const NONCE: &str = "1590219412";
    const ENCRYPT: &str = "D7yzvUNAL930rd28wf21s4hvXhz0L6Uit/p2Di6C5DHyYGpEgdBRnKjBec34JwoQXicwaZC7fOVihW80F4VtsdvE//1vr7oAbqjDv8KenVp+ajKYpJnyQ4zMRhIC+a31fCVOMC03FfzV/QuC94kBP55a+Za3sJgvAn+ZbsNqZI5DkyuzkhQN8OBqCzFhizGmy0xpM0MEA4agpvE+RuNO1rhHTtuJB5yltw1FiYzecSXJ+y/D2r81VkRn2eYjh2ltsoyfbDR7Is6ookXIFxTfyeNyeHxMeT4KN5WpCDmSbTcUYrbBUlkGLJ9n/rU8YOywma6G7aTb7KZKOqCxgfoUlYEZPk4FUL/TK7ShriFDMVCLyjQJ15Ob++agDWtcxhfUfe6HIoIpRW8mKNBQiY/Jd1svvuskA1wLef1RTtzKfMpagSCX/laZINmdnX4zrF6kIaR9P4xQrWXbsTFHTYe0Mg==";

    #[test]
    fn signatures() {
        assert_eq!(
            url_signature(TOKEN, TIMESTAMP, NONCE),
            "cc0c594499c1634947d5b502f158ee518947db27"
        );
        assert_eq!(
            msg_signature(TOKEN, TIMESTAMP, NONCE, ENCRYPT),
            "6c12a4205838198b8fa631b3220723bb07f1015c"
        );
    }

    #[test]
    fn decrypt_and_parse() {
        let p = decrypt_parts(&zero_key(), APPID, ENCRYPT).unwrap();
        assert_eq!(&p.random16, b"1205899eaf019bbd");
        assert_eq!(p.msg.len(), 292);
        assert_eq!(p.pad_len, 22);
        let m = parse_message(&p.msg).unwrap();
        assert_eq!(m.header.msg_type, "event");
        assert_eq!(
            m.message,
            Message::Event(Event::Unknown {
                event: "debug_demo".into()
            })
        );
        assert_eq!(m.event_name(), Some("debug_demo"));
        assert!(m.fields.contains_key("debug_str"));
        assert_eq!(
            m.dedupe_key(),
            format!(
                "evt:{}:{}:debug_demo",
                m.header.from_user, m.header.create_time
            )
        );
    }

    #[test]
    fn encrypted_reply_exactly() {
        let reply = "<xml><demo_resp>[CDATA[good luck]]</demo_resp></xml>";
        assert_eq!(reply.len(), 52);
        let out = encrypted_reply_with_random(
            &zero_key(),
            TOKEN,
            APPID,
            reply,
            1713424427,
            "415670741",
            *b"999951349e8ee746",
        );
        let (enc, sig, ts, nonce) = reply_parts(&out);
        assert_eq!(
            enc,
            "hE8R6mGXHkJJjU72KxzKUd1GEkKJaEZq7vRL8XgK3o+00k8JGq6+pZJUIlTSyhsX+bxIBQ72g3GyvDdIZcr6+3HAZbSvPT9t/o11MI7d6WELwqrGd7jMnV0zv3Zc9Nq7"
        );
        assert_eq!(sig, "03e0812039325c2712ef5f0f980fd14c70d6e307");
        assert_eq!(ts, "1713424427");
        assert_eq!(nonce, "415670741");
        assert_eq!(decrypt(&zero_key(), APPID, &enc).unwrap(), reply.as_bytes());
    }
}

mod v5_wechatpy {
    use super::*;

    const TOKEN: &str = "123456";
    const KEY: &str = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";
    const ID: &str = "wx49f0ab532d5d035a";

    fn key() -> AesKey {
        AesKey::from_encoding_aes_key(KEY).unwrap()
    }

    #[test]
    fn deterministic_encrypt() {
        let reply =
            "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n\
                     <FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n\
                     <ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n\
                     <CreateTime>1411525903</CreateTime>\n</xml>";
        let out = encrypted_reply_with_random(
            &key(),
            TOKEN,
            ID,
            reply,
            1411525903,
            "461056294",
            *b"1234567890123456",
        );
        let (enc, sig, ts, nonce) = reply_parts(&out);
        assert_eq!(
            enc,
            "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
        );
        assert_eq!(sig, "407518b7649e86ef23978113f92d27afa9296533");
        assert_eq!(ts, "1411525903");
        assert_eq!(nonce, "461056294");
    }

    #[test]
    fn decrypt_message_vector() {
        let enc = "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=";
        assert!(verify_msg_signature(
            "74d92dfeb87ba7c714f89d98870ae5eb62dff26d",
            TOKEN,
            "1411525903",
            "461056294",
            enc
        ));
        let plain = decrypt(&key(), ID, enc).unwrap();
        let m = parse_message(&plain).unwrap();
        assert_eq!(m.header.from_user, "messense");
        assert_eq!(m.fields["Content"], "test");
    }

    #[test]
    fn check_signature_vector() {
        let echo = "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==";
        let sig = "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96";
        assert!(verify_msg_signature(
            sig,
            TOKEN,
            "1411443780",
            "437374425",
            echo
        ));
        assert!(!verify_msg_signature(
            sig,
            TOKEN,
            "1411443780",
            "437374424",
            echo
        ));
    }
}

#[test]
fn rotation_on_a_real_vector() {
    // V1 was encrypted with the docs key; after rotating to 43×A it still opens
    // with the previous key.
    let docs =
        AesKey::from_encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap();
    let (msg, used) = decrypt_with_rotation(
        &zero_key(),
        Some(&docs),
        "wx2c2769f8efd9abc2",
        v1_official_sample::ENCRYPT,
    )
    .unwrap();
    assert_eq!(used, KeyUsed::Previous);
    assert_eq!(msg.len(), 280);
}
