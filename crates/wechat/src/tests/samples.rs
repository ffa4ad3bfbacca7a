//! One realistic sample of every message and event of §3.1/§3.2, mixing CDATA and
//! bare values the way WeChat and its SDK samples do.

use crate::xml::{parse_message, Event, Inbound, MassSendJobFinish, Message};
use crate::Error;

const TO: &str = "gh_4d00ed8d6399";
const FROM: &str = "oV5CrjpxgaGXNHIQigzNlgLTnwic";

/// Wraps body elements in a push header.
fn push(msg_type: &str, body: &str) -> String {
    format!(
        "<xml>\n<ToUserName><![CDATA[{TO}]]></ToUserName>\n<FromUserName><![CDATA[{FROM}]]></FromUserName>\n\
         <CreateTime>1348831860</CreateTime>\n<MsgType><![CDATA[{msg_type}]]></MsgType>\n{body}\n</xml>"
    )
}

fn event_push(event: &str, body: &str) -> String {
    push(
        "event",
        &format!("<Event><![CDATA[{event}]]></Event>\n{body}"),
    )
}

fn parse(xml: &str) -> Inbound {
    let m = parse_message(xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
    assert_eq!(m.header.to_user, TO);
    assert_eq!(m.header.from_user, FROM);
    assert_eq!(m.header.create_time, 1348831860);
    m
}

fn event_of(m: &Inbound) -> &Event {
    match &m.message {
        Message::Event(e) => e,
        other => panic!("not an event: {other:?}"),
    }
}

#[test]
fn text() {
    let m = parse(&push(
        "text",
        "<Content><![CDATA[this is a test]]></Content>\n<MsgId>1234567890123456</MsgId>",
    ));
    let Message::Text(t) = &m.message else {
        panic!("{m:?}")
    };
    assert_eq!(t.content, "this is a test");
    assert_eq!(t.msg_id, 1234567890123456);
    assert_eq!((t.msg_data_id.as_deref(), t.idx.as_deref()), (None, None));
    assert_eq!(m.dedupe_key(), "msg:1234567890123456");
    assert_eq!(m.header.msg_type, "text");
}

#[test]
fn text_from_an_article_with_bare_values() {
    let xml = format!(
        "<xml><ToUserName>{TO}</ToUserName><FromUserName>{FROM}</FromUserName><CreateTime> 1348831860 </CreateTime>\
         <MsgType>text</MsgType><Content>a &lt; b &amp;&amp; c</Content><MsgId>18446744073709551615</MsgId>\
         <MsgDataId>2247483661</MsgDataId><Idx>1</Idx></xml>"
    );
    let m = parse(&xml);
    let Message::Text(t) = &m.message else {
        panic!("{m:?}")
    };
    assert_eq!(t.content, "a < b && c");
    assert_eq!(t.msg_id, u64::MAX);
    assert_eq!(t.msg_data_id.as_deref(), Some("2247483661"));
    assert_eq!(t.idx.as_deref(), Some("1"));
}

#[test]
fn image() {
    let m = parse(&push(
        "image",
        "<PicUrl><![CDATA[http://mmbiz.qpic.cn/mmbiz_jpg/abc/0]]></PicUrl>\n\
         <MediaId><![CDATA[media_id_1]]></MediaId>\n<MsgId>1234567890123457</MsgId>",
    ));
    let Message::Image(i) = &m.message else {
        panic!("{m:?}")
    };
    assert_eq!(i.pic_url, "http://mmbiz.qpic.cn/mmbiz_jpg/abc/0");
    assert_eq!(i.media_id, "media_id_1");
    assert_eq!(i.msg_id, 1234567890123457);
}

#[test]
fn voice_with_and_without_recognition() {
    let m = parse(&push(
        "voice",
        "<MediaId><![CDATA[media_id_2]]></MediaId>\n<Format><![CDATA[amr]]></Format>\n\
         <Recognition><![CDATA[腾讯微信团队]]></Recognition>\n<MsgId>1234567890123458</MsgId>",
    ));
    let Message::Voice(v) = &m.message else {
        panic!("{m:?}")
    };
    assert_eq!(
        (v.media_id.as_str(), v.format.as_str()),
        ("media_id_2", "amr")
    );
    assert_eq!(v.recognition.as_deref(), Some("腾讯微信团队"));

    for body in [
        "<MediaId><![CDATA[m]]></MediaId><Format><![CDATA[speex]]></Format><MsgId>9</MsgId>",
        "<MediaId><![CDATA[m]]></MediaId><Format><![CDATA[speex]]></Format><Recognition><![CDATA[]]></Recognition><MsgId>9</MsgId>",
        "<MediaId><![CDATA[m]]></MediaId><Format><![CDATA[speex]]></Format><Recognition/><MsgId>9</MsgId>",
    ] {
        let m = parse(&push("voice", body));
        let Message::Voice(v) = &m.message else { panic!("{m:?}") };
        assert_eq!(v.format, "speex");
        assert_eq!(v.recognition, None);
    }
}

#[test]
fn video_and_shortvideo() {
    let body = "<MediaId><![CDATA[media_id_3]]></MediaId>\n<ThumbMediaId><![CDATA[thumb_3]]></ThumbMediaId>\n<MsgId>1234567890123459</MsgId>";
    let m = parse(&push("video", body));
    let Message::Video(v) = &m.message else {
        panic!("{m:?}")
    };
    assert_eq!(
        (v.media_id.as_str(), v.thumb_media_id.as_str(), v.msg_id),
        ("media_id_3", "thumb_3", 1234567890123459)
    );
    let m = parse(&push("shortvideo", body));
    let Message::ShortVideo(v) = &m.message else {
        panic!("{m:?}")
    };
    assert_eq!(v.thumb_media_id, "thumb_3");
    assert_eq!(m.dedupe_key(), "msg:1234567890123459");
}

#[test]
fn location() {
    let m = parse(&push(
        "location",
        "<Location_X>23.134521</Location_X>\n<Location_Y>113.358803</Location_Y>\n<Scale>20</Scale>\n\
         <Label><![CDATA[位置信息]]></Label>\n<MsgId>1234567890123460</MsgId>",
    ));
    let Message::Location(l) = &m.message else {
        panic!("{m:?}")
    };
    assert_eq!(
        (l.latitude, l.longitude, l.scale),
        (23.134521, 113.358803, 20)
    );
    assert_eq!(l.label, "位置信息");
}

#[test]
fn link() {
    let m = parse(&push(
        "link",
        "<Title><![CDATA[公众平台官网链接]]></Title>\n<Description><![CDATA[公众平台官网链接]]></Description>\n\
         <Url><![CDATA[https://mp.weixin.qq.com/]]></Url>\n<MsgId>1234567890123461</MsgId>",
    ));
    let Message::Link(l) = &m.message else {
        panic!("{m:?}")
    };
    assert_eq!(l.title, "公众平台官网链接");
    assert_eq!(l.description, "公众平台官网链接");
    assert_eq!(l.url, "https://mp.weixin.qq.com/");
    assert_eq!(l.msg_id, 1234567890123461);
}

#[test]
fn subscribe_plain_empty_key_and_qr() {
    for xml in [
        event_push("subscribe", ""),
        event_push("subscribe", "<EventKey/>"),
        event_push("subscribe", "<EventKey><![CDATA[]]></EventKey>"),
    ] {
        let m = parse(&xml);
        assert_eq!(
            event_of(&m),
            &Event::Subscribe {
                event_key: None,
                ticket: None
            }
        );
        assert_eq!(event_of(&m).qr_scene(), None);
        assert_eq!(m.dedupe_key(), format!("evt:{FROM}:1348831860:subscribe"));
        assert_eq!(m.message.msg_id(), None);
    }
    let m = parse(&event_push(
        "subscribe",
        "<EventKey><![CDATA[qrscene_123123]]></EventKey>\n<Ticket><![CDATA[gQH47joAAAAAAAAAASxodHRwOi8v]]></Ticket>",
    ));
    let e = event_of(&m);
    assert_eq!(
        e,
        &Event::Subscribe {
            event_key: Some("qrscene_123123".into()),
            ticket: Some("gQH47joAAAAAAAAAASxodHRwOi8v".into())
        }
    );
    assert_eq!(e.qr_scene(), Some("123123"));
}

#[test]
fn unsubscribe() {
    let m = parse(&event_push(
        "unsubscribe",
        "<EventKey><![CDATA[]]></EventKey>",
    ));
    assert_eq!(event_of(&m), &Event::Unsubscribe);
    assert_eq!(m.event_name(), Some("unsubscribe"));
    assert_eq!(m.dedupe_key(), format!("evt:{FROM}:1348831860:unsubscribe"));
}

#[test]
fn scan() {
    let m = parse(&event_push(
        "SCAN",
        "<EventKey><![CDATA[SCENE_VALUE]]></EventKey>\n<Ticket><![CDATA[TICKET]]></Ticket>",
    ));
    let e = event_of(&m);
    assert_eq!(
        e,
        &Event::Scan {
            event_key: "SCENE_VALUE".into(),
            ticket: Some("TICKET".into())
        }
    );
    assert_eq!(e.qr_scene(), Some("SCENE_VALUE"));
    assert_eq!(m.dedupe_key(), format!("evt:{FROM}:1348831860:SCAN"));
}

#[test]
fn location_event() {
    let m = parse(&event_push(
        "LOCATION",
        "<Latitude>23.137466</Latitude>\n<Longitude>113.352425</Longitude>\n<Precision>119.385040</Precision>",
    ));
    assert_eq!(
        event_of(&m),
        &Event::Location {
            latitude: 23.137466,
            longitude: 113.352425,
            precision: 119.38504
        }
    );
}

#[test]
fn click_and_view() {
    let m = parse(&event_push(
        "CLICK",
        "<EventKey><![CDATA[V1001_TODAY_MUSIC]]></EventKey>",
    ));
    assert_eq!(
        event_of(&m),
        &Event::Click {
            event_key: "V1001_TODAY_MUSIC".into()
        }
    );

    let m = parse(&event_push(
        "VIEW",
        "<EventKey><![CDATA[https://www.qq.com/]]></EventKey>\n<MenuId>402134567</MenuId>",
    ));
    assert_eq!(
        event_of(&m),
        &Event::View {
            url: "https://www.qq.com/".into(),
            menu_id: Some("402134567".into())
        }
    );
    let m = parse(&event_push(
        "VIEW",
        "<EventKey><![CDATA[https://www.qq.com/]]></EventKey>",
    ));
    assert_eq!(
        event_of(&m),
        &Event::View {
            url: "https://www.qq.com/".into(),
            menu_id: None
        }
    );
}

#[test]
fn template_send_job_finish() {
    for status in ["success", "failed:user block", "failed: system failed"] {
        let m = parse(&event_push(
            "TEMPLATESENDJOBFINISH",
            &format!("<MsgID>200163836</MsgID>\n<Status><![CDATA[{status}]]></Status>"),
        ));
        assert_eq!(
            event_of(&m),
            &Event::TemplateSendJobFinish {
                msg_id: 200163836,
                status: status.into()
            }
        );
        assert_eq!(
            m.dedupe_key(),
            format!("evt:{FROM}:1348831860:TEMPLATESENDJOBFINISH:200163836")
        );
    }
}

#[test]
fn mass_send_job_finish_with_nested_results() {
    let m = parse(&event_push(
        "MASSSENDJOBFINISH",
        "<MsgID>1000001625</MsgID>\n<Status><![CDATA[err(30003)]]></Status>\n<TotalCount>100</TotalCount>\n\
         <FilterCount>80</FilterCount>\n<SentCount>75</SentCount>\n<ErrorCount>5</ErrorCount>\n\
         <CopyrightCheckResult>\n<Count>2</Count>\n<ResultList>\n\
         <item>\n<ArticleIdx>1</ArticleIdx>\n<UserDeclareState>0</UserDeclareState>\n<AuditState>2</AuditState>\n\
         <OriginalArticleUrl><![CDATA[Url_1]]></OriginalArticleUrl>\n<OriginalArticleType>1</OriginalArticleType>\n\
         <CanReprint>1</CanReprint>\n<NeedReplaceContent>1</NeedReplaceContent>\n<NeedShowReprintSource>1</NeedShowReprintSource>\n</item>\n\
         <item>\n<ArticleIdx>2</ArticleIdx>\n<UserDeclareState>0</UserDeclareState>\n<AuditState>2</AuditState>\n\
         <OriginalArticleUrl><![CDATA[Url_2]]></OriginalArticleUrl>\n<OriginalArticleType>1</OriginalArticleType>\n\
         <CanReprint>1</CanReprint>\n<NeedReplaceContent>1</NeedReplaceContent>\n<NeedShowReprintSource>1</NeedShowReprintSource>\n</item>\n\
         </ResultList>\n<CheckState>2</CheckState>\n</CopyrightCheckResult>\n\
         <ArticleUrlResult>\n<Count>1</Count>\n<ResultList>\n<item>\n<ArticleIdx>1</ArticleIdx>\n\
         <ArticleUrl><![CDATA[https://mp.weixin.qq.com/s/abc]]></ArticleUrl>\n</item>\n</ResultList>\n</ArticleUrlResult>",
    ));
    let Event::MassSendJobFinish(job) = event_of(&m) else {
        panic!("{m:?}")
    };
    let MassSendJobFinish {
        msg_id,
        status,
        total_count,
        filter_count,
        sent_count,
        error_count,
        ..
    } = job;
    assert_eq!((*msg_id, status.as_str()), (1000001625, "err(30003)"));
    assert_eq!(
        (*total_count, *filter_count, *sent_count, *error_count),
        (Some(100), Some(80), Some(75), Some(5))
    );
    let copyright = job.copyright_check.as_ref().unwrap();
    assert_eq!((copyright.count, copyright.check_state), (Some(2), Some(2)));
    assert_eq!(copyright.items.len(), 2);
    assert_eq!(copyright.items[1]["OriginalArticleUrl"], "Url_2");
    assert_eq!(copyright.items[0]["AuditState"], "2");
    let urls = job.article_urls.as_ref().unwrap();
    assert_eq!(urls.count, Some(1));
    assert_eq!(urls.items.len(), 1);
    assert_eq!(urls.items[0].article_idx, Some(1));
    assert_eq!(urls.items[0].article_url, "https://mp.weixin.qq.com/s/abc");
    assert_eq!(event_of(&m).job_msg_id(), Some(1000001625));
    assert_eq!(
        m.dedupe_key(),
        format!("evt:{FROM}:1348831860:MASSSENDJOBFINISH:1000001625")
    );
    // The nested blocks stay in the raw tree, not in the flat field map.
    assert!(m.root.child("CopyrightCheckResult").is_some());
    assert!(!m.fields.contains_key("CopyrightCheckResult"));
}

#[test]
fn mass_send_job_finish_minimal() {
    let m = parse(&event_push(
        "MASSSENDJOBFINISH",
        "<MsgID>1988</MsgID><Status><![CDATA[send success]]></Status><TotalCount>3</TotalCount>\
         <FilterCount>3</FilterCount><SentCount>3</SentCount><ErrorCount>0</ErrorCount>",
    ));
    let Event::MassSendJobFinish(job) = event_of(&m) else {
        panic!("{m:?}")
    };
    assert_eq!(job.status, "send success");
    assert_eq!(job.error_count, Some(0));
    assert!(job.copyright_check.is_none() && job.article_urls.is_none());
}

#[test]
fn unknown_event_and_unknown_type_are_kept() {
    let m = parse(&event_push(
        "scancode_push",
        "<EventKey><![CDATA[rselfmenu_0_1]]></EventKey><ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>\
         <ScanResult><![CDATA[1]]></ScanResult></ScanCodeInfo>",
    ));
    assert_eq!(
        event_of(&m),
        &Event::Unknown {
            event: "scancode_push".into()
        }
    );
    assert_eq!(m.fields["EventKey"], "rselfmenu_0_1");
    assert_eq!(
        m.root
            .child("ScanCodeInfo")
            .and_then(|s| s.child_text("ScanResult")),
        Some("1")
    );
    assert_eq!(
        m.dedupe_key(),
        format!("evt:{FROM}:1348831860:scancode_push")
    );

    // Event names are case-sensitive: "scan" is not SCAN.
    let m = parse(&event_push("scan", "<EventKey>1</EventKey>"));
    assert_eq!(
        event_of(&m),
        &Event::Unknown {
            event: "scan".into()
        }
    );

    let m = parse(&push(
        "miniprogrampage",
        "<Title><![CDATA[t]]></Title><MsgId>42</MsgId>",
    ));
    assert_eq!(m.message, Message::Unknown { msg_id: Some(42) });
    assert_eq!(m.header.msg_type, "miniprogrampage");
    assert_eq!(m.fields["Title"], "t");
    assert_eq!(m.dedupe_key(), "msg:42");

    let m = parse(&push("future_type", "<Whatever>x</Whatever>"));
    assert_eq!(m.message, Message::Unknown { msg_id: None });
    assert_eq!(m.dedupe_key(), format!("evt:{FROM}:1348831860:future_type"));
}

#[test]
fn unknown_elements_are_kept() {
    let m = parse(&push(
        "text",
        "<Content><![CDATA[hi]]></Content><MsgId>1</MsgId><NewField><![CDATA[new]]></NewField>\
         <Bare>7</Bare><Nested><Inner>x</Inner></Nested>",
    ));
    assert!(matches!(m.message, Message::Text(_)));
    assert_eq!(m.fields["NewField"], "new");
    assert_eq!(m.fields["Bare"], "7");
    assert_eq!(m.fields["Content"], "hi");
    assert_eq!(m.fields["MsgType"], "text");
    assert_eq!(
        m.root.child("Nested").and_then(|n| n.child_text("Inner")),
        Some("x")
    );
}

#[test]
fn required_fields() {
    let no_from = format!(
        "<xml><ToUserName>{TO}</ToUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><MsgId>1</MsgId></xml>"
    );
    assert_eq!(
        parse_message(no_from),
        Err(Error::MissingField("FromUserName"))
    );
    assert_eq!(
        parse_message(push("text", "<Content>x</Content>")),
        Err(Error::MissingField("MsgId"))
    );
    assert!(matches!(
        parse_message(push("text", "<Content>x</Content><MsgId>abc</MsgId>")),
        Err(Error::InvalidField { field: "MsgId", .. })
    ));
    assert_eq!(
        parse_message(push("event", "")),
        Err(Error::MissingField("Event"))
    );
    assert!(matches!(
        parse_message(event_push(
            "LOCATION",
            "<Latitude>NaN</Latitude><Longitude>1</Longitude><Precision>1</Precision>"
        )),
        Err(Error::InvalidField {
            field: "Latitude",
            ..
        })
    ));
    assert_eq!(
        parse_message(event_push(
            "TEMPLATESENDJOBFINISH",
            "<Status>success</Status>"
        )),
        Err(Error::MissingField("MsgID"))
    );
    let bad_time = format!(
        "<xml><ToUserName>{TO}</ToUserName><FromUserName>{FROM}</FromUserName><CreateTime>soon</CreateTime><MsgType>text</MsgType></xml>"
    );
    assert!(matches!(
        parse_message(bad_time),
        Err(Error::InvalidField {
            field: "CreateTime",
            ..
        })
    ));
}

#[test]
fn hostile_or_broken_input() {
    let xxe = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE xml [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
        push("text", "<Content>&x;</Content><MsgId>1</MsgId>")
    );
    assert_eq!(parse_message(xxe), Err(Error::DoctypeRejected));
    assert!(matches!(
        parse_message("<xml><ToUserName>a</xml>"),
        Err(Error::Xml(_))
    ));
    // A follower typing markup is just text.
    let m = parse(&push(
        "text",
        "<Content><![CDATA[<!DOCTYPE html><b>hi</b>]]></Content><MsgId>1</MsgId>",
    ));
    let Message::Text(t) = &m.message else {
        panic!("{m:?}")
    };
    assert_eq!(t.content, "<!DOCTYPE html><b>hi</b>");
}
