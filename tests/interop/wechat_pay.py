#!/usr/bin/env python3
"""WeChat Pay notifications made by independent implementations, for Patron to check.

It plays WeChat Pay's side with the libraries merchants use (PyPI):

* v2 payment notifications signed with wechatpy's `calculate_signature` (MD5) and
  `calculate_signature_hmac` (HMAC-SHA256) and written with its `dict_to_xml`;
* v2 refund notifications whose `req_info` is AES-256-ECB as WeChat sends it (PKCS#7 to
  16-byte blocks, with `cryptography`), checked to open with wechatpy's
  `WeChatRefundCrypto`; one made with wechatpy's own encoder (which pads to 32);
* v3 notifications signed with wechatpayv3's `rsa_sign` (SHA256withRSA) by a fresh RSA
  2048 key, their resources sealed with `cryptography`'s AESGCM, both checked with
  wechatpayv3's `rsa_verify` and `aes_decrypt`.

Each kind comes with tamper cases. Every case says what Patron must answer: "ok" or the
name of the `PayError` variant. The fixtures go to OUT_DIR/fixtures.json; the Rust test
`patron-wechat` `pay::interop` runs this script and checks every case.

Usage: wechat_pay.py OUT_DIR
"""
import base64
import datetime
import hashlib
import json
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID
from wechatpy.crypto import RefundCrypto, WeChatRefundCrypto
from wechatpy.pay.utils import calculate_signature, calculate_signature_hmac, dict_to_xml
from wechatpayv3.utils import aes_decrypt, rsa_sign, rsa_verify

if len(sys.argv) != 2:
    sys.exit(__doc__)
OUT_DIR = sys.argv[1]

APIV2_KEY = "192006250b4c09247ec02edce69f6a2d"
APIV3_KEY = "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"
NOW = 1717200000  # 2024-06-01T00:00:00Z
PUB_KEY_ID = "PUB_KEY_ID_0114232134912410000000000000"


def beijing_to_utc(compact):
    t = datetime.datetime.strptime(compact, "%Y%m%d%H%M%S") - datetime.timedelta(hours=8)
    return t.strftime("%Y-%m-%d %H:%M:%S")


# --- v2 payment notifications ------------------------------------------------------------

def payment(**extra):
    d = {
        "return_code": "SUCCESS",
        "return_msg": "OK",
        "appid": "wx2421b1c4370ec43b",
        "mch_id": "10000100",
        "nonce_str": "5d2b6c2a8db53831f7eda20af46e531c",
        "result_code": "SUCCESS",
        "openid": "oUpF8uMEb4qRXf22hE3X68TekukE",
        "is_subscribe": "Y",
        "trade_type": "JSAPI",
        "bank_type": "CMC",
        "total_fee": "1000",
        "fee_type": "CNY",
        "cash_fee": "1000",
        "transaction_id": "4200001234202406010123456789",
        "out_trade_no": "T20240601000001",
        "attach": "门店 7 & 会员",
        "time_end": "20240601073015",
    }
    d.update(extra)
    return d


def v2_case(name, fields, expect, sign=None, body=None):
    case = {"name": name, "expect": expect}
    case["body"] = body if body is not None else dict_to_xml(fields, sign)
    if expect == "ok":
        case["want"] = {
            "out_trade_no": fields["out_trade_no"],
            "transaction_id": fields["transaction_id"],
            "openid": fields["openid"],
            "total_fee": int(fields["total_fee"]),
            "cash_fee": int(fields["cash_fee"]),
            "coupon_fee": int(fields["coupon_fee"]) if fields.get("coupon_fee") else None,
            "time_end_utc": beijing_to_utc(fields["time_end"]),
            "attach": fields.get("attach"),
            "fields": len([k for k in fields]) + 1,
        }
    return case


v2_cases = []
base = payment()
v2_cases.append(v2_case("md5", base, "ok", calculate_signature(base, APIV2_KEY)))
hm = payment(sign_type="HMAC-SHA256")
v2_cases.append(v2_case("hmac_sha256", hm, "ok", calculate_signature_hmac(hm, APIV2_KEY)))
# Practitioners: MD5-signed notifications reach HMAC merchants; the length decides.
v2_cases.append(v2_case("sign_type_hmac_but_md5_sign", hm, "ok", calculate_signature(hm, APIV2_KEY)))
coupons = payment(cash_fee="900", coupon_fee="100", coupon_count="1", coupon_type_0="CASH",
                  coupon_id_0="10000", coupon_fee_0="100", settlement_total_fee="900",
                  sub_mch_id="1900000109", future_field="added by WeChat later")
v2_cases.append(v2_case("coupons_and_unknown_fields", coupons, "ok",
                        calculate_signature(coupons, APIV2_KEY)))
v2_cases.append(v2_case("coupons_hmac", coupons, "ok", calculate_signature_hmac(coupons, APIV2_KEY)))
# An empty value is outside the signature (wechatpy drops it too).
sign = calculate_signature(base, APIV2_KEY)
v2_cases.append(v2_case("empty_field_added", payment(device_info=""), "ok", sign))
assert calculate_signature(payment(device_info=""), APIV2_KEY) == sign

v2_cases.append(v2_case("amount_changed", payment(total_fee="1"), "BadSignature", sign))
v2_cases.append(v2_case("cash_fee_changed", payment(cash_fee="999"), "BadSignature", sign))
v2_cases.append(v2_case("openid_changed", payment(openid="oAttacker"), "BadSignature", sign))
v2_cases.append(v2_case("field_added", payment(device_info="WEB"), "BadSignature", sign))
v2_cases.append(v2_case("unknown_field_added", payment(future_field="x"), "BadSignature", sign))
dropped = payment()
del dropped["attach"]
v2_cases.append(v2_case("field_removed", dropped, "BadSignature", sign))
flipped = sign[:-1] + ("0" if sign[-1] != "0" else "1")
v2_cases.append(v2_case("sign_changed", base, "BadSignature", flipped))
v2_cases.append(v2_case("wrong_key", base, "BadSignature",
                        calculate_signature(base, APIV2_KEY[:-1] + "e")))
v2_cases.append(v2_case("sign_truncated", base, "BadSignature", sign[:30]))
v2_cases.append(v2_case("sign_removed", base, "MissingField"))
v2_cases.append(v2_case("fail_notification", {"return_code": "FAIL", "return_msg": "签名失败"},
                        "MissingField"))
v2_cases.append(v2_case(
    "xxe", base, "Malformed",
    body='<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
         + dict_to_xml(payment(attach="&x;"), sign).replace("<![CDATA[&x;]]>", "&x;")))

# --- v2 refund notifications -------------------------------------------------------------

REFUND_ROOT = {
    "transaction_id": "4200001234202406010123456789",
    "out_trade_no": "T20240601000001",
    "refund_id": "50300000012024060112345678901",
    "out_refund_no": "R20240601000001",
    "total_fee": "1000",
    "settlement_total_fee": "1000",
    "refund_fee": "300",
    "settlement_refund_fee": "300",
    "refund_status": "SUCCESS",
    "success_time": "2024-06-01 09:30:05",
    "refund_recv_accout": "支付用户零钱",
    "refund_account": "REFUND_SOURCE_RECHARGE_FUNDS",
    "refund_request_source": "API",
}


def root_xml(d):
    return "<root>" + "".join("<%s><![CDATA[%s]]></%s>" % (k, v, k) for k, v in d.items()) + "</root>"


def ecb_encrypt16(plain, apiv2_key):
    """What WeChat does: AES-256-ECB, key = lower-hex MD5(key), PKCS#7 to 16 bytes."""
    key = hashlib.md5(apiv2_key.encode()).hexdigest().encode()
    padder = padding.PKCS7(128).padder()
    data = padder.update(plain) + padder.finalize()
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return base64.b64encode(enc.update(data) + enc.finalize()).decode()


def refund_body(req_info, **extra):
    d = {"return_code": "SUCCESS", "appid": "wx2421b1c4370ec43b", "mch_id": "10000100",
         "nonce_str": "TeqClE3i0mvn3DrK", "req_info": req_info}
    d.update(extra)
    return dict_to_xml(d)


plain = root_xml(REFUND_ROOT).encode()
good_req_info = ecb_encrypt16(plain, APIV2_KEY)
# wechatpy opens what we made, to the same fields.
opened = WeChatRefundCrypto(APIV2_KEY).decrypt_message(
    refund_body(good_req_info), "wx2421b1c4370ec43b", "10000100")
assert dict(opened) == REFUND_ROOT, opened

want_refund = dict(REFUND_ROOT)
refund_cases = [
    {"name": "refund_success", "expect": "ok", "body": refund_body(good_req_info), "want": want_refund},
    {"name": "refund_wrong_key", "expect": "Decrypt",
     "body": refund_body(ecb_encrypt16(plain, APIV2_KEY[:-1] + "e"))},
]
raw = bytearray(base64.b64decode(good_req_info))
raw[-1] ^= 0x5A
refund_cases.append({"name": "refund_last_block_tampered", "expect": "Decrypt",
                     "body": refund_body(base64.b64encode(bytes(raw)).decode())})
refund_cases.append({"name": "refund_truncated_block", "expect": "Decrypt",
                     "body": refund_body(base64.b64encode(bytes(raw[:-3])).decode())})
refund_cases.append({"name": "refund_not_base64", "expect": "Malformed",
                     "body": refund_body("%%not base64%%")})
refund_cases.append({"name": "refund_no_req_info", "expect": "MissingField",
                     "body": dict_to_xml({"return_code": "SUCCESS", "appid": "wx2421b1c4370ec43b"})})
# wechatpy's own encoder pads to 32: where that pad exceeds 16 it is not WeChat's format.
key32 = hashlib.md5(APIV2_KEY.encode()).hexdigest().encode()
wpy = RefundCrypto(key32).encrypt(plain)
wpy = wpy.decode() if isinstance(wpy, bytes) else wpy
pad32 = 32 - len(plain) % 32
refund_cases.append({"name": "refund_wechatpy_pad32_%d" % pad32,
                     "expect": "ok" if pad32 <= 16 else "Decrypt",
                     "body": refund_body(wpy), "want": want_refund})
closed = dict(REFUND_ROOT, refund_status="REFUNDCLOSE")
del closed["success_time"]
del closed["settlement_total_fee"]
refund_cases.append({"name": "refund_closed", "expect": "ok",
                     "body": refund_body(ecb_encrypt16(root_xml(closed).encode(), APIV2_KEY)),
                     "want": closed})

# --- v3 notifications --------------------------------------------------------------------

platform = rsa.generate_private_key(public_exponent=65537, key_size=2048)
other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
public_pem = platform.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
# A platform certificate whose serial has a leading zero nibble in its DER bytes.
serial = int.from_bytes(b"\x0f" + os.urandom(19), "big")
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA (test)")])
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(platform.public_key()).serial_number(serial)
        .not_valid_before(datetime.datetime(2024, 1, 1))
        .not_valid_after(datetime.datetime(2029, 1, 1))
        .sign(platform, hashes.SHA256()))
cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
cert_serial = "%X" % serial

TRANSACTION = {
    "mchid": "1230000109", "appid": "wxd678efh567hg6787",
    "out_trade_no": "T20240601000002", "transaction_id": "4200001234202406010123456790",
    "trade_type": "JSAPI", "trade_state": "SUCCESS", "trade_state_desc": "支付成功",
    "bank_type": "CMC", "attach": "门店 7", "success_time": "2024-06-01T08:00:00+08:00",
    "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
    "amount": {"total": 1000, "payer_total": 900, "currency": "CNY", "payer_currency": "CNY"},
    "promotion_detail": [{"coupon_id": "109519", "name": "满10减1", "scope": "GLOBAL",
                          "type": "CASH", "stock_id": "931386", "amount": 100,
                          "wechatpay_contribute": 0, "merchant_contribute": 100,
                          "other_contribute": 0, "currency": "CNY"}],
}
REFUND = {
    "mchid": "1230000109", "out_trade_no": "T20240601000002",
    "transaction_id": "4200001234202406010123456790", "out_refund_no": "R20240601000002",
    "refund_id": "50300000012024060112345678902", "refund_status": "SUCCESS",
    "success_time": "2024-06-01T09:00:00+08:00", "user_received_account": "支付用户零钱",
    "amount": {"total": 1000, "refund": 300, "payer_total": 900, "payer_refund": 270},
}


def seal(plaintext, aad, nonce, key=APIV3_KEY):
    ct = AESGCM(key.encode()).encrypt(nonce.encode(), plaintext.encode(), aad.encode())
    return base64.b64encode(ct).decode()


def envelope(resource, event_type="TRANSACTION.SUCCESS", summary="支付成功"):
    return {"id": "EV-2018022511223320873", "create_time": "2024-06-01T08:00:01+08:00",
            "resource_type": "encrypt-resource", "event_type": event_type,
            "summary": summary, "resource": resource}


def resource(plain_obj, original_type, nonce="5K8264ILTKCH", aad=None, key=APIV3_KEY,
             algorithm="AEAD_AES_256_GCM"):
    plaintext = json.dumps(plain_obj, ensure_ascii=False, separators=(",", ":"))
    aad = original_type if aad is None else aad
    return {"original_type": original_type, "algorithm": algorithm,
            "ciphertext": seal(plaintext, aad, nonce, key), "associated_data": aad,
            "nonce": nonce}, plaintext


def compact(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def sign(body, ts=NOW, nonce="fdasflkja484w", key=platform):
    return rsa_sign(key, "%s\n%s\n%s\n" % (ts, nonce, body))


v3_cases = []


def v3_case(name, expect, body, ts=NOW, nonce="fdasflkja484w", signature=None, serial=PUB_KEY_ID,
            kind=None, plaintext=None, want=None):
    if signature is None:
        signature = sign(body, ts, nonce)
    case = {"name": name, "expect": expect, "body": body,
            "headers": {"timestamp": str(ts), "nonce": nonce, "signature": signature,
                        "serial": serial}}
    if kind:
        case["kind"] = kind
    if plaintext is not None:
        case["plaintext"] = plaintext
        case["want"] = want
    # wechatpayv3 agrees with the verdicts it can give: signature, then decryption.
    py_sig = rsa_verify(str(ts), nonce, body, signature, platform.public_key())
    res = json.loads(body).get("resource", {})
    if expect == "ok":
        assert py_sig, name
        assert aes_decrypt(res["nonce"], res["ciphertext"], res["associated_data"] or "",
                           APIV3_KEY) == plaintext, name
    elif expect == "BadSignature":
        assert not py_sig, name
    elif expect == "Decrypt":
        assert py_sig, name
        assert aes_decrypt(res["nonce"], res["ciphertext"], res.get("associated_data") or "",
                           APIV3_KEY) is None, name
    v3_cases.append(case)


res, tx_plain = resource(TRANSACTION, "transaction")
tx_body = compact(envelope(res))
v3_case("transaction", "ok", tx_body, kind="transaction", plaintext=tx_plain, want=TRANSACTION)
v3_case("transaction_cert_serial", "ok", tx_body, serial=cert_serial, kind="transaction",
        plaintext=tx_plain, want=TRANSACTION)
v3_case("transaction_cert_serial_lower_zero_led", "ok", tx_body, serial="0" + cert_serial.lower(),
        kind="transaction", plaintext=tx_plain, want=TRANSACTION)
v3_case("transaction_ts_300_s_old", "ok", tx_body, ts=NOW - 300, kind="transaction",
        plaintext=tx_plain, want=TRANSACTION)
# The JSON as Python writes it by default (spaces after separators, \\u escapes): any
# byte form verifies when signed as sent.
default_json = json.dumps(envelope(res))
v3_case("transaction_default_json_dumps", "ok", default_json, kind="transaction",
        plaintext=tx_plain, want=TRANSACTION)
rres, rf_plain = resource(REFUND, "refund", nonce="fW2tpXb9D5Kq")
rf_body = compact(envelope(rres, "REFUND.SUCCESS", "退款成功"))
v3_case("refund", "ok", rf_body, kind="refund", plaintext=rf_plain, want=REFUND)
eres, _ = resource(REFUND, "refund", aad="")
v3_case("refund_empty_associated_data", "ok", compact(envelope(eres, "REFUND.CLOSED", "退款关闭")),
        kind="refund", plaintext=rf_plain, want=REFUND)

good_sig = sign(tx_body)
v3_case("pretty_reserialised", "BadSignature",
        json.dumps(json.loads(tx_body), ensure_ascii=False, indent=2), signature=good_sig)
v3_case("spaces_reserialised", "BadSignature",
        json.dumps(json.loads(tx_body), ensure_ascii=False), signature=good_sig)
v3_case("body_one_byte", "BadSignature", tx_body.replace("EV-2018", "EV-2019"), signature=good_sig)
v3_case("nonce_header_changed", "BadSignature", tx_body, nonce="fdasflkja484x", signature=good_sig)
v3_case("timestamp_header_changed", "BadSignature", tx_body, ts=NOW + 1, signature=good_sig)
v3_case("signed_by_other_key", "BadSignature", tx_body, signature=sign(tx_body, key=other))
v3_case("unknown_serial", "UnknownSerial", tx_body, serial="5157F09EFDC096DE15EBE81A47057A7232F1B8E1")
v3_case("ts_301_s_old", "Expired", tx_body, ts=NOW - 301)
v3_case("ts_301_s_ahead", "Expired", tx_body, ts=NOW + 301)
v3_case("signature_probe", "Probe", tx_body,
        signature="WECHATPAY/SIGNTEST/" + base64.b64encode(os.urandom(64)).decode())

raw_ct = bytearray(base64.b64decode(res["ciphertext"]))
raw_ct[5] ^= 0x01
tampered = dict(res, ciphertext=base64.b64encode(bytes(raw_ct)).decode())
v3_case("gcm_ciphertext_tampered", "Decrypt", compact(envelope(tampered)), kind="transaction")
raw_tag = bytearray(base64.b64decode(res["ciphertext"]))
raw_tag[-1] ^= 0x01
v3_case("gcm_tag_tampered", "Decrypt",
        compact(envelope(dict(res, ciphertext=base64.b64encode(bytes(raw_tag)).decode()))),
        kind="transaction")
v3_case("gcm_aad_changed", "Decrypt", compact(envelope(dict(res, associated_data="refund"))),
        kind="transaction")
v3_case("gcm_nonce_changed", "Decrypt", compact(envelope(dict(res, nonce="5K8264ILTKCI"))),
        kind="transaction")
wres, _ = resource(TRANSACTION, "transaction", key="b" * 32)
v3_case("gcm_wrong_apiv3_key", "Decrypt", compact(envelope(wres)), kind="transaction")
v3_case("wrong_algorithm", "WrongAlgorithm",
        compact(envelope(dict(res, algorithm="AEAD_AES_128_GCM"))), kind="transaction")

fixtures = {
    "generated_by": {
        "wechatpy": __import__("wechatpy").__version__,
        "wechatpayv3": __import__("importlib.metadata").metadata.version("wechatpayv3"),
        "cryptography": __import__("cryptography").__version__,
    },
    "v2": {"key": APIV2_KEY, "cases": v2_cases},
    "refund": {"key": APIV2_KEY, "cases": refund_cases},
    "v3": {"apiv3_key": APIV3_KEY, "now": NOW, "public_key_id": PUB_KEY_ID,
           "public_key_pem": public_pem, "certificate_pem": cert_pem,
           "certificate_serial": cert_serial, "cases": v3_cases},
}
os.makedirs(OUT_DIR, exist_ok=True)
with open(os.path.join(OUT_DIR, "fixtures.json"), "w", encoding="utf-8") as f:
    json.dump(fixtures, f, ensure_ascii=False, indent=1)
print(json.dumps({"v2": len(v2_cases), "refund": len(refund_cases), "v3": len(v3_cases)}))
