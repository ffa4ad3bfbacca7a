#!/usr/bin/env python3
"""An independent WeChat client for Patron's webhook, built on wechatpy (PyPI).

It signs and encrypts pushes exactly as WeChat's servers do, sends every message and event
type to /wx/<slug> in one message mode, and decrypts and verifies Patron's replies with
wechatpy. It asserts the protocol-level outcome itself and prints one JSON line describing
what it sent, for the Rust test to check the database against.

Usage: wechat_client.py --base URL --slug SLUG --token T --aes-key K --appid A
                        --original-id gh_... --mode plain|compatible|safe
"""
import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

parser = argparse.ArgumentParser()
for flag in ("base", "slug", "token", "aes-key", "appid", "original-id", "mode"):
    parser.add_argument("--" + flag, required=True)
args = parser.parse_args()

crypto = WeChatCrypto(args.token, args.aes_key, args.appid)
OA = args.original_id
USER = "o_%s_user" % args.mode
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def sign(*parts):
    s = WeChatSigner()
    s.add_data(*parts)
    return s.signature


def post(xml, params, path=None):
    url = "%s%s?%s" % (args.base, path or "/wx/" + args.slug, urllib.parse.urlencode(params))
    req = urllib.request.Request(url, data=xml.encode("utf-8"), method="POST",
                                 headers={"Content-Type": "text/xml"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def push(xml, mode=None, tamper=None, age=0):
    """Sends one push as WeChat would in `mode`, signed `age` seconds ago; returns (status,
    reply plaintext or body)."""
    mode = mode or args.mode
    ts, nonce = str(int(time.time()) - age), "n%d" % int(time.time() * 1000 % 1000000)
    params = {"signature": sign(args.token, ts, nonce), "timestamp": ts, "nonce": nonce,
              "openid": USER}
    if mode == "plain":
        body = xml
    else:
        enc = xmltodict.parse(crypto.encrypt_message(xml, nonce, ts))["xml"]["Encrypt"]
        if tamper == "appid":
            other = WeChatCrypto(args.token, args.aes_key, "wx0000000000000000")
            enc = xmltodict.parse(other.encrypt_message(xml, nonce, ts))["xml"]["Encrypt"]
        params["encrypt_type"] = "aes"
        params["msg_signature"] = sign(args.token, ts, nonce, enc)
        if mode == "safe":
            body = "<xml><ToUserName><![CDATA[%s]]></ToUserName><Encrypt><![CDATA[%s]]></Encrypt></xml>" % (OA, enc)
        else:  # compatible: the plaintext elements and Encrypt in one document
            inner = xml.strip()[len("<xml>"):-len("</xml>")]
            body = "<xml>%s<Encrypt><![CDATA[%s]]></Encrypt></xml>" % (inner, enc)
    if tamper == "signature":
        params["signature"] = "0" * 40
        params["msg_signature"] = "0" * 40
    status, text = post(body, params)
    if status != 200 or text in ("success", ""):
        return status, text
    if mode == "plain":
        return status, text
    # Decrypt and verify exactly as WeChat would: signature over the reply's own fields.
    env = xmltodict.parse(text)["xml"]
    check(env["Nonce"] == nonce, "reply nonce echoes the request")
    plain = crypto.decrypt_message(text, env["MsgSignature"], env["TimeStamp"], env["Nonce"])
    return status, plain


def reply_content(plain):
    r = xmltodict.parse(plain)["xml"]
    check(r["ToUserName"] == USER, "reply goes back to the sender")
    check(r["FromUserName"] == OA, "reply comes from the OA")
    check(r["MsgType"] == "text", "reply is text")
    return r["Content"]


n = [int(time.time()) - 1000]


def xml_of(msg_type, extra, msg_id=None, event=None):
    n[0] += 1
    parts = ["<xml>",
             "<ToUserName><![CDATA[%s]]></ToUserName>" % OA,
             "<FromUserName><![CDATA[%s]]></FromUserName>" % USER,
             "<CreateTime>%d</CreateTime>" % n[0],
             "<MsgType><![CDATA[%s]]></MsgType>" % msg_type]
    if event:
        parts.append("<Event><![CDATA[%s]]></Event>" % event)
    parts.append(extra)
    if msg_id:
        parts.append("<MsgId>%d</MsgId>" % msg_id)
    parts.append("</xml>")
    return "".join(parts)


base_id = {"plain": 7100000000000000000, "compatible": 7200000000000000000, "safe": 7300000000000000000}[args.mode]
mid = [base_id]


def next_id():
    mid[0] += 1
    return mid[0]


# Job reports come from WeChat's system account, not from a follower ("system").
sent = {"messages": 0, "events": 0, "system": 0}
DEFAULT = "Thanks, we got your message."

# User messages: a keyword, then the default reply for everything else.
cases = [
    ("text", "<Content><![CDATA[hours]]></Content>", "We open 9:00-21:00."),
    ("text", "<Content><![CDATA[hello <there> & ]]]]><![CDATA[> friends]]></Content>", DEFAULT),
    ("image", "<PicUrl><![CDATA[http://mmbiz/p.jpg]]></PicUrl><MediaId><![CDATA[m1]]></MediaId>", DEFAULT),
    ("voice", "<MediaId><![CDATA[m2]]></MediaId><Format><![CDATA[amr]]></Format><Recognition><![CDATA[]]></Recognition>", DEFAULT),
    ("video", "<MediaId><![CDATA[m3]]></MediaId><ThumbMediaId><![CDATA[t3]]></ThumbMediaId>", DEFAULT),
    ("shortvideo", "<MediaId><![CDATA[m4]]></MediaId><ThumbMediaId><![CDATA[t4]]></ThumbMediaId>", DEFAULT),
    ("location", "<Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[Tianhe]]></Label>", DEFAULT),
    ("link", "<Title><![CDATA[A link]]></Title><Description><![CDATA[d]]></Description><Url><![CDATA[http://example.com]]></Url>", DEFAULT),
    ("miniprogrampage", "<Title><![CDATA[new type]]></Title><NewField>kept</NewField>", DEFAULT),
]
for msg_type, extra, want in cases:
    status, plain = push(xml_of(msg_type, extra, msg_id=next_id()))
    check(status == 200, "%s answered %s" % (msg_type, status))
    if status == 200:
        check(reply_content(plain) == want, "%s got the reply %r" % (msg_type, want))
    sent["messages"] += 1

# Events.
events = [
    ("subscribe", "", "Welcome!"),
    ("unsubscribe", "", None),
    ("subscribe", "<EventKey><![CDATA[qrscene_store7]]></EventKey><Ticket><![CDATA[TICKET]]></Ticket>", "Welcome to store 7!"),
    ("SCAN", "<EventKey><![CDATA[store7]]></EventKey><Ticket><![CDATA[TICKET]]></Ticket>", "Welcome to store 7!"),
    ("LOCATION", "<Latitude>23.137466</Latitude><Longitude>113.352425</Longitude><Precision>119.385040</Precision>", None),
    ("CLICK", "<EventKey><![CDATA[MENU_HOURS]]></EventKey>", "9:00-21:00 every day."),
    ("VIEW", "<EventKey><![CDATA[http://example.com/menu]]></EventKey><MenuId>42</MenuId>", None),
    ("TEMPLATESENDJOBFINISH", "<MsgID>200163836</MsgID><Status><![CDATA[success]]></Status>", None),
    ("MASSSENDJOBFINISH", "<MsgID>1000001625</MsgID><Status><![CDATA[send success]]></Status><TotalCount>100</TotalCount><FilterCount>80</FilterCount><SentCount>75</SentCount><ErrorCount>5</ErrorCount><CopyrightCheckResult><Count>0</Count><ResultList/><CheckState>1</CheckState></CopyrightCheckResult>", None),
    ("some_new_event", "<Whatever><![CDATA[x]]></Whatever>", None),
]
for event, extra, want in events:
    status, plain = push(xml_of("event", extra, event=event))
    check(status == 200, "%s answered %s" % (event, status))
    if want is None:
        check(plain == "success", "%s is acknowledged with success, got %r" % (event, plain[:80]))
    elif status == 200:
        check(reply_content(plain) == want, "%s got %r" % (event, want))
    sent["system" if event.endswith("JOBFINISH") else "events"] += 1

# WeChat retries: three deliveries of one message, stored once, the same reply each time.
retry = xml_of("text", "<Content><![CDATA[hours]]></Content>", msg_id=next_id())
answers = [push(retry) for _ in range(3)]
check(all(s == 200 for s, _ in answers), "retries answered 200")
if args.mode == "plain":
    check(len({a for _, a in answers}) == 1, "the three deliveries got byte-identical replies")
else:
    check(len({a for _, a in answers}) == 1, "the three deliveries decrypt to the same reply")
sent["messages"] += 1
retry_event = xml_of("event", "<EventKey><![CDATA[MENU_HOURS]]></EventKey>", event="CLICK")
for _ in range(3):
    push(retry_event)
sent["events"] += 1

# Bad input: each refused with its own status.
status, _ = push(xml_of("text", "<Content>x</Content>", msg_id=next_id()), tamper="signature")
check(status == 401, "a wrong signature gets 401, got %s" % status)
ts, nonce = str(int(time.time())), "486452656"
good = {"signature": sign(args.token, ts, nonce), "timestamp": ts, "nonce": nonce}
if args.mode != "plain":
    # What this tenant accepts: the refusals below must come from the body, not the mode.
    good = dict(good, encrypt_type="aes", msg_signature=sign(args.token, ts, nonce, ""))
status, _ = post("<xml><ToUserName>oops", good)
check(status == 400, "malformed XML gets 400, got %s" % status)
status, _ = post('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><xml><A>&a;</A></xml>', good)
check(status == 400, "a DTD gets 400, got %s" % status)
status, _ = post("<xml>" + "x" * (70 * 1024) + "</xml>", good)
check(status == 413, "an oversized body gets 413, got %s" % status)
status, _ = post("<xml/>", good, path="/wx/no-such-tenant")
check(status == 404, "an unknown tenant gets 404, got %s" % status)
if args.mode != "plain":
    status, _ = push(xml_of("text", "<Content>x</Content>", msg_id=next_id()), tamper="appid")
    check(status == 400, "a foreign appid gets 400, got %s" % status)
    good_enc = dict(good, msg_signature=sign(args.token, ts, nonce, "!!notbase64!!"))
    status, _ = post("<xml><ToUserName>x</ToUserName><Encrypt>!!notbase64!!</Encrypt></xml>", good_enc)
    check(status == 400, "undecryptable Encrypt gets 400, got %s" % status)

# A captured push replayed later: its signature is right, its timestamp too old.
status, body = push(xml_of("text", "<Content>x</Content>", msg_id=next_id()), age=400)
check(status == 401 and "stale_timestamp" in body, "a push signed 400 s ago gets 401, got %s %r" % (status, body))
# The tenant's message mode decides what it accepts.
other_mode = {"safe": "plain", "plain": "safe", "compatible": "plain"}[args.mode]
status, _ = push(xml_of("text", "<Content><![CDATA[hours]]></Content>", msg_id=next_id()), mode=other_mode)
if args.mode == "compatible":
    check(status == 200, "compatible mode takes a plaintext push too, got %s" % status)
    sent["messages"] += 1
else:
    check(status == 403, "a %s push to a %s-mode tenant gets 403, got %s" % (other_mode, args.mode, status))

# Server URL verification (GET), as when the merchant saves the server config.
q = urllib.parse.urlencode({"signature": sign(args.token, ts, nonce), "timestamp": ts, "nonce": nonce, "echostr": "4375120948345356249"})
with urllib.request.urlopen("%s/wx/%s?%s" % (args.base, args.slug, q), timeout=10) as r:
    check(r.read().decode() == "4375120948345356249", "echostr echoed")
try:
    bad = urllib.parse.urlencode({"signature": "0" * 40, "timestamp": ts, "nonce": nonce, "echostr": "x"})
    urllib.request.urlopen("%s/wx/%s?%s" % (args.base, args.slug, bad), timeout=10)
    check(False, "a wrong URL signature is refused")
except urllib.error.HTTPError as e:
    check(e.code == 401, "a wrong URL signature gets 401")

print(json.dumps({"mode": args.mode, "user": USER, "sent": sent, "failures": failures}))
sys.exit(1 if failures else 0)
