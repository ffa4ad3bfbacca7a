//! Fixtures are built from the real 2019 ALL line of the protocol notes (§6.3, WxJava's
//! test data): its values, its trailing empty field, BOM and CRLF as downloads carry them.

use super::matcher::fee_fen;
use super::parse::{decimal, Declared};
use super::synth::{self, rate_text, Record, SynthOptions, ALL_HEADER, ALL_SUMMARY_HEADER};
use super::*;
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};

const REAL_2019: &str = "`2019-07-25 08:35:41,`WWWW,`XXXXXXXX,`0,`,`XXXXXXXXXXXXX,`XXXXXXXXXX,`XXXXXXXXXXX,`JSAPI,`SUCCESS,`PSBC_DEBIT,`CNY,`6.00,`0.00,`0,`0,`0.00,`0.00,`,`,`XXXXXX,`XXXXXXX,`0.04000,`0.60%,`6.00,`0.00,`";
const REAL_2019_SUMMARY: &str = "`1,`6.00,`0.00,`0.00,`0.04000,`6.00,`0.00";

const SUCCESS_HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注";
const REFUND_HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";
const LEGACY_HEADER: &str = "交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,总金额,代金券或立减优惠金额,微信退款单号,商户退款单号,退款金额,代金券或立减优惠退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率";
const LEGACY_SUMMARY_HEADER: &str =
    "总交易单数,总交易额,总退款金额,总代金券或立减优惠退款金额,手续费总金额";

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2019, 7, 25).unwrap()
}

/// The real line's value for each ALL column.
fn real_values() -> Vec<(&'static str, String)> {
    ALL_HEADER
        .split(',')
        .zip(REAL_2019.split(','))
        .map(|(h, v)| (h, v.strip_prefix('`').unwrap().to_string()))
        .collect()
}

/// A line of `header`'s columns: the real line's values, `set` overriding some by name,
/// and columns the real line lacks empty.
fn line(header: &str, set: &[(&str, &str)]) -> String {
    let real = real_values();
    header
        .split(',')
        .map(|h| {
            let v = set
                .iter()
                .find(|(k, _)| *k == h)
                .map(|(_, v)| v.to_string())
                .or_else(|| real.iter().find(|(k, _)| *k == h).map(|(_, v)| v.clone()))
                .unwrap_or_default();
            format!("`{v}")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A whole file: BOM, CRLF.
fn file(header: &str, lines: &[String], summary_header: &str, summary: &str) -> Vec<u8> {
    let mut s = String::from("\u{feff}");
    s.push_str(header);
    s.push_str("\r\n");
    for l in lines {
        s.push_str(l);
        s.push_str("\r\n");
    }
    s.push_str(summary_header);
    s.push_str("\r\n");
    s.push_str(summary);
    s.push_str("\r\n");
    s.into_bytes()
}

fn read_all(bytes: &[u8]) -> Result<(Option<Layout>, Vec<BillLine>, Summary), BillError> {
    let mut r = BillReader::new(bytes)?;
    let layout = r.layout().cloned();
    let lines = r.lines().collect::<Result<Vec<_>, _>>()?;
    Ok((layout, lines, r.finish()?))
}

fn err_of(bytes: &[u8]) -> BillError {
    match read_all(bytes) {
        Err(e) => e,
        Ok(_) => panic!("read without error"),
    }
}

fn t(s: &str) -> NaiveDateTime {
    parse::parse_time(s).unwrap()
}

#[test]
fn the_real_2019_line_reads_exactly() {
    let bytes = file(
        ALL_HEADER,
        &[REAL_2019.into()],
        ALL_SUMMARY_HEADER,
        REAL_2019_SUMMARY,
    );
    let (layout, lines, summary) = read_all(&bytes).unwrap();
    let layout = layout.unwrap();
    assert_eq!(
        (layout.kind, layout.legacy, layout.columns.len()),
        (BillKind::All, false, 27)
    );
    assert_eq!(lines.len(), 1);
    let l = &lines[0];
    assert_eq!(l.line, 2);
    assert_eq!(l.trade_time, t("2019-07-25 08:35:41"));
    assert_eq!(l.trade_time_utc(), t("2019-07-25 00:35:41"));
    assert_eq!(l.appid, "WWWW");
    assert_eq!(l.sub_mch_id, "0");
    assert_eq!(l.device_info, "");
    assert_eq!(l.transaction_id, "XXXXXXXXXXXXX");
    assert_eq!(l.out_trade_no, "XXXXXXXXXX");
    assert_eq!(l.state, TradeState::Success);
    assert_eq!(l.bank_type, "PSBC_DEBIT");
    assert_eq!((l.settled_fen, l.coupon_fen, l.refund_fen), (600, 0, 0));
    assert_eq!((l.refund_id.as_str(), l.out_refund_no.as_str()), ("0", "0"));
    assert_eq!(l.refund_status, None);
    assert_eq!(l.fee_millifen, 4_000, "0.04000 yuan is 4 fen");
    assert_eq!(l.rate_ppm, Some(6_000));
    assert_eq!(l.order_fen, Some(600));
    assert_eq!(l.requested_refund_fen, Some(0));
    assert_eq!(l.rate_note, "", "the trailing empty field");
    assert_eq!(
        summary.declared,
        Declared {
            count: 1,
            settled_fen: Some(600),
            refund_fen: Some(0),
            recharge_refund_fen: Some(0),
            fee_millifen: Some(4_000),
            order_fen: Some(600),
            requested_refund_fen: Some(0),
        }
    );
    assert_eq!(summary.line, Some(4));
    assert!(!summary.no_bill);
    summary.check().unwrap();
}

#[test]
fn without_bom_or_crlf_the_same_lines_come_out() {
    let with = file(
        ALL_HEADER,
        &[REAL_2019.into()],
        ALL_SUMMARY_HEADER,
        REAL_2019_SUMMARY,
    );
    let plain = String::from_utf8(with.clone())
        .unwrap()
        .replace("\u{feff}", "")
        .replace("\r\n", "\n");
    let a = read_all(&with).unwrap();
    let b = read_all(plain.as_bytes()).unwrap();
    assert_eq!(a.1, b.1);
    assert_eq!(a.2, b.2);
    // No final line end either.
    let trimmed = plain.trim_end();
    assert_eq!(read_all(trimmed.as_bytes()).unwrap().1, a.1);
}

#[test]
fn lent_and_owned_lines_agree() {
    let bytes = file(
        ALL_HEADER,
        &[REAL_2019.into()],
        ALL_SUMMARY_HEADER,
        REAL_2019_SUMMARY,
    );
    let mut r = BillReader::new(&bytes[..]).unwrap();
    let lent = r.next_line().unwrap().unwrap().to_owned_line();
    assert!(r.next_line().is_none());
    assert_eq!(lent, read_all(&bytes).unwrap().1[0]);
}

#[test]
fn a_success_bill_reads_with_a_four_or_seven_column_summary() {
    let l = line(SUCCESS_HEADER, &[]);
    for (header, summary) in [
        (
            "总交易单数,应结订单总金额,手续费总金额,订单总金额",
            "`1,`6.00,`0.04000,`6.00",
        ),
        (ALL_SUMMARY_HEADER, REAL_2019_SUMMARY),
    ] {
        let (layout, lines, s) = read_all(&file(
            SUCCESS_HEADER,
            std::slice::from_ref(&l),
            header,
            summary,
        ))
        .unwrap();
        let layout = layout.unwrap();
        assert_eq!((layout.kind, layout.columns.len()), (BillKind::Success, 20));
        assert_eq!(lines[0].settled_fen, 600);
        assert_eq!(lines[0].out_refund_no, "", "no refund columns");
        assert_eq!(lines[0].requested_refund_fen, None);
        s.check().unwrap();
    }
    let four = file(
        SUCCESS_HEADER,
        &[l],
        "总交易单数,应结订单总金额,手续费总金额,订单总金额",
        "`1,`6.00,`0.04000,`6.00",
    );
    let s = read_all(&four).unwrap().2;
    assert_eq!(s.declared.refund_fen, None, "not in a four-column summary");
}

#[test]
fn a_refund_bill_carries_the_refunds_times() {
    let l = line(
        REFUND_HEADER,
        &[
            ("交易时间", "2019-07-25 10:00:00"),
            ("交易状态", "REFUND"),
            ("应结订单金额", "0.00"),
            ("订单金额", "0.00"),
            ("退款申请时间", "2019-07-25 10:00:00"),
            ("退款成功时间", ""),
            ("微信退款单号", "50300000012019072500001"),
            ("商户退款单号", "R1"),
            ("退款金额", "2.50"),
            ("申请退款金额", "3.00"),
            ("退款类型", "ORIGINAL"),
            ("退款状态", "PROCESSING"),
            ("手续费", "-0.02000"),
        ],
    );
    let summary = "`1,`0.00,`2.50,`0.00,`-0.02000,`0.00,`3.00";
    let (layout, lines, s) =
        read_all(&file(REFUND_HEADER, &[l], ALL_SUMMARY_HEADER, summary)).unwrap();
    assert_eq!(layout.unwrap().kind, BillKind::Refund);
    let l = &lines[0];
    assert!(l.is_refund());
    assert_eq!(l.refund_requested_at, Some(t("2019-07-25 10:00:00")));
    assert_eq!(l.refund_succeeded_at, None);
    assert_eq!(l.refund_status, Some(RefundStatus::Processing));
    assert_eq!((l.refund_fen, l.refund_requested_fen()), (250, 300));
    assert_eq!(l.fee_millifen, -2_000);
    s.check().unwrap();
}

#[test]
fn the_legacy_layout_is_read_by_its_names() {
    let l = line(
        LEGACY_HEADER,
        &[
            ("子商户号", "1000"),
            ("总金额", "0.01"),
            ("代金券或立减优惠金额", "0.0"),
            ("退款金额", "0"),
            ("代金券或立减优惠退款金额", "0"),
            ("手续费", "0"),
        ],
    );
    let bytes = file(
        LEGACY_HEADER,
        &[l.clone(), l],
        LEGACY_SUMMARY_HEADER,
        "`2,`0.02,`0.0,`0.0,`0",
    );
    let (layout, lines, s) = read_all(&bytes).unwrap();
    let layout = layout.unwrap();
    assert_eq!(
        (layout.kind, layout.legacy, layout.columns.len()),
        (BillKind::All, true, 24)
    );
    let l = &lines[1];
    assert_eq!(l.sub_mch_id, "1000");
    assert_eq!(
        (l.settled_fen, l.order_fen, l.order_amount_fen()),
        (1, None, 1)
    );
    assert_eq!(l.refund_requested_fen(), 0);
    assert_eq!(s.declared.settled_fen, Some(2));
    assert_eq!(s.declared.order_fen, None);
    s.check().unwrap();
}

#[test]
fn a_summary_that_disagrees_is_reported_distinctly() {
    let bytes = file(
        ALL_HEADER,
        &[REAL_2019.into()],
        ALL_SUMMARY_HEADER,
        "`2,`6.00,`0.00,`0.00,`0.05000,`6.00,`0.00",
    );
    let s = read_all(&bytes)
        .expect("a disagreement does not stop the reading")
        .2;
    let d = s.disagreements();
    assert_eq!(
        d.iter()
            .map(|d| (d.column, d.declared, d.computed))
            .collect::<Vec<_>>(),
        vec![("总交易单数", 2, 1), ("手续费总金额", 5_000, 4_000)]
    );
    let e = s.check().unwrap_err();
    assert_eq!(e.code(), "bill_summary_mismatch");
    assert_eq!(
        e.to_string(),
        "the summary disagrees with the detail lines: 总交易单数 declares 2, the lines add up to 1; \
         手续费总金额 declares 0.05000, the lines add up to 0.04000"
    );
}

#[test]
fn every_malformed_line_names_its_line_and_what_is_wrong() {
    let ok = REAL_2019.to_string();
    let with = |bad: String| {
        file(
            ALL_HEADER,
            &[ok.clone(), bad],
            ALL_SUMMARY_HEADER,
            REAL_2019_SUMMARY,
        )
    };
    let short = REAL_2019.rsplit_once(',').unwrap().0.to_string();
    assert_eq!(
        err_of(&with(short)),
        BillError::ColumnCount {
            line: 3,
            expected: 27,
            found: 26
        }
    );
    let e = err_of(&with(REAL_2019.replacen(",`JSAPI", ",JSAPI", 1)));
    assert_eq!(
        e,
        BillError::NoBacktick {
            line: 3,
            column: "交易类型".into()
        }
    );
    for amount in ["6.001", "abc", "", "6.0.0", "1e3", "--6", "¥6"] {
        let e = err_of(&with(line(ALL_HEADER, &[("应结订单金额", amount)])));
        assert_eq!(e.line(), Some(3), "{amount:?}");
        assert_eq!(e.code(), "bill_bad_amount", "{amount:?}: {e}");
    }
    let e = err_of(&with(line(ALL_HEADER, &[("手续费", "0.040001")])));
    assert_eq!(
        e,
        BillError::BadAmount {
            line: 3,
            column: "手续费".into(),
            value: "0.040001".into()
        }
    );
    for time in [
        "2019-13-25 08:35:41",
        "2019-07-25T08:35:41",
        "2019-07-25 24:00:00",
        "",
    ] {
        let e = err_of(&with(line(ALL_HEADER, &[("交易时间", time)])));
        assert_eq!(e.code(), "bill_bad_time", "{time:?}");
        assert_eq!(e.line(), Some(3));
    }
    let e = err_of(&with(line(ALL_HEADER, &[("交易状态", "PAID")])));
    assert_eq!(
        e,
        BillError::BadValue {
            line: 3,
            column: "交易状态".into(),
            value: "PAID".into()
        }
    );
    let e = err_of(&with(line(ALL_HEADER, &[("费率", "0.60")])));
    assert_eq!(e.code(), "bill_bad_value");
    let e = err_of(&with(line(ALL_HEADER, &[("交易状态", "REFUND")])));
    assert_eq!(
        e,
        BillError::BadLine {
            line: 3,
            what: "a refund line without 商户退款单号"
        }
    );
    assert!(e.to_string().starts_with("line 3: "), "{e}");
    // A line after the summary; a file cut before its summary.
    let mut after = file(
        ALL_HEADER,
        std::slice::from_ref(&ok),
        ALL_SUMMARY_HEADER,
        REAL_2019_SUMMARY,
    );
    after.extend_from_slice(REAL_2019.as_bytes());
    assert_eq!(
        err_of(&after),
        BillError::BadLine {
            line: 5,
            what: "a line after the summary"
        }
    );
    let cut = format!("{ALL_HEADER}\r\n{ok}\r\n{ok}\r\n");
    assert_eq!(err_of(cut.as_bytes()), BillError::NoSummary { line: 3 });
    let cut = format!("{ALL_HEADER}\r\n{ok}\r\n{ALL_SUMMARY_HEADER}\r\n");
    assert_eq!(err_of(cut.as_bytes()), BillError::NoSummary { line: 3 });
    // The summary line itself.
    let e = err_of(&file(
        ALL_HEADER,
        std::slice::from_ref(&ok),
        ALL_SUMMARY_HEADER,
        "`1,`6.00,`0.00",
    ));
    assert_eq!(
        e,
        BillError::ColumnCount {
            line: 4,
            expected: 7,
            found: 3
        }
    );
    let e = err_of(&file(
        ALL_HEADER,
        std::slice::from_ref(&ok),
        ALL_SUMMARY_HEADER,
        "`1,`6.00,`0.00,`0.00,`0.04000,`6.00,`x",
    ));
    assert_eq!(e.line(), Some(4));
    // Not UTF-8.
    let mut bad = format!("{ALL_HEADER}\r\n").into_bytes();
    bad.extend_from_slice(b"`\xff\xfe,");
    bad.extend_from_slice(&REAL_2019.as_bytes()[REAL_2019.find(',').unwrap() + 1..]);
    assert_eq!(err_of(&bad).line(), Some(2));
}

#[test]
fn after_an_error_the_reader_stops_and_finish_repeats_it() {
    let bytes = file(
        ALL_HEADER,
        &[REAL_2019.into(), "`x".into(), REAL_2019.into()],
        ALL_SUMMARY_HEADER,
        REAL_2019_SUMMARY,
    );
    let mut r = BillReader::new(&bytes[..]).unwrap();
    assert!(r.next_line().unwrap().is_ok());
    let e = r.next_line().unwrap().unwrap_err();
    assert_eq!(
        e,
        BillError::ColumnCount {
            line: 3,
            expected: 27,
            found: 1
        }
    );
    assert!(r.next_line().is_none());
    assert_eq!(r.finish().unwrap_err(), e);
}

#[test]
fn headers_that_are_not_a_bill_are_refused() {
    let e = err_of(b"openid,name\r\no1,Li\r\n");
    assert_eq!(
        e,
        BillError::MissingColumn {
            line: 1,
            column: "交易时间"
        }
    );
    let no_fee = ALL_HEADER.replace(",手续费,", ",x,");
    assert_eq!(
        err_of(no_fee.as_bytes()),
        BillError::MissingColumn {
            line: 1,
            column: "手续费"
        }
    );
    let twice = format!("{ALL_HEADER},商户订单号");
    assert_eq!(
        err_of(twice.as_bytes()),
        BillError::DuplicateColumn {
            line: 1,
            column: "商户订单号".into()
        }
    );
    let both = ALL_HEADER
        .replace("特约商户号", "子商户号")
        .replace("设备号", "特约商户号");
    assert_eq!(err_of(both.as_bytes()).code(), "bill_duplicate_column");
    // A column WeChat adds some day is read past.
    let extra = format!("{ALL_HEADER},新字段");
    let l = format!("{REAL_2019},`x");
    let (_, lines, _) =
        read_all(&file(&extra, &[l], ALL_SUMMARY_HEADER, REAL_2019_SUMMARY)).unwrap();
    assert_eq!(lines[0].out_trade_no, "XXXXXXXXXX");
}

#[test]
fn the_empty_day_in_each_of_its_forms() {
    // Headers, no detail line, a zero summary.
    let bytes = file(
        ALL_HEADER,
        &[],
        ALL_SUMMARY_HEADER,
        "`0,`0.00,`0.00,`0.00,`0.00000,`0.00,`0.00",
    );
    let (layout, lines, s) = read_all(&bytes).unwrap();
    assert_eq!(layout.unwrap().kind, BillKind::All);
    assert!(lines.is_empty());
    assert!(!s.no_bill);
    s.check().unwrap();
    // WeChat's answers instead of a file.
    let v2 = b"<xml><return_code><![CDATA[FAIL]]></return_code>\n<return_msg><![CDATA[No Bill Exist]]></return_msg>\n<error_code><![CDATA[20002]]></error_code>\n</xml>";
    let v3 = r#"{"code":"NO_STATEMENT_EXIST","message":"请求的账单文件不存在"}"#.as_bytes();
    for answer in [&v2[..], v3] {
        let mut r = BillReader::new(answer).unwrap();
        assert!(r.no_bill());
        assert_eq!(r.kind(), None);
        assert!(r.next_line().is_none());
        let s = r.finish().unwrap();
        assert!(s.no_bill);
        assert_eq!(s.computed, Totals::default());
        s.check().unwrap();
    }
    let creating = r#"{"code":"STATEMENT_CREATING","message":"账单生成中"}"#;
    assert_eq!(
        BillReader::new(creating.as_bytes()).unwrap_err().code(),
        "bill_not_ready"
    );
    let v2_creating = b"<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[Bill Creating]]></return_msg></xml>";
    assert_eq!(
        BillReader::new(&v2_creating[..]).unwrap_err().code(),
        "bill_not_ready"
    );
    let sign = b"<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[SIGN ERROR]]></return_msg></xml>";
    assert_eq!(
        BillReader::new(&sign[..]).unwrap_err(),
        BillError::Refused {
            code: "FAIL".into(),
            message: "SIGN ERROR".into()
        }
    );
    for empty in [&b""[..], b"\xEF\xBB\xBF", b"\r\n\r\n"] {
        assert_eq!(BillReader::new(empty).unwrap_err(), BillError::Empty);
    }
}

#[test]
fn amounts_and_rates_are_exact_integers() {
    assert_eq!(decimal("6.00", 2), Some(600));
    assert_eq!(decimal("6", 2), Some(600));
    assert_eq!(decimal("6.0", 2), Some(600));
    assert_eq!(decimal("0.01", 2), Some(1));
    assert_eq!(decimal("-0.01", 2), Some(-1));
    assert_eq!(decimal("1299.02", 2), Some(129_902));
    assert_eq!(decimal("0.04000", 5), Some(4_000));
    assert_eq!(decimal("-0.05940", 5), Some(-5_940));
    assert_eq!(decimal("9999999999999.99", 2), Some(999_999_999_999_999));
    for bad in [
        "",
        "-",
        ".5",
        "5.",
        "6.001",
        "+1",
        "1e3",
        " 1",
        "1 ",
        "12345678901234",
    ] {
        assert_eq!(decimal(bad, 2), None, "{bad:?}");
    }
    // Half away from zero, to the fen: 6.00 × 0.60% = 3.6 fen → 4.
    assert_eq!(fee_fen(600, 6_000), 4);
    assert_eq!(fee_fen(1, 6_000), 0);
    assert_eq!(fee_fen(83, 6_000), 0);
    assert_eq!(fee_fen(84, 6_000), 1);
    assert_eq!(fee_fen(250, 2_000), 1);
    assert_eq!(fee_fen(-84, 6_000), -1);
    assert_eq!(rate_text(6_000), "0.60%");
    assert_eq!(rate_text(3_800), "0.38%");
    assert_eq!(rate_text(10_000), "1.00%");
    assert_eq!(rate_text(12_345), "1.2345%");
    assert_eq!(parse::yuan(-5_940, 5), "-0.05940");
}

// --- matching ---------------------------------------------------------------------

/// A payment line of `day()` at `time` with order amount, coupon and fee (yuan text).
fn pay_line(no: &str, tx: &str, time: &str, order: &str, coupon: &str, fee: &str) -> String {
    let o = decimal(order, 2).unwrap();
    let c = decimal(coupon, 2).unwrap();
    let settled = parse::yuan(o - c, 2);
    line(
        ALL_HEADER,
        &[
            ("交易时间", time),
            ("微信订单号", tx),
            ("商户订单号", no),
            ("订单金额", order),
            ("代金券金额", coupon),
            ("应结订单金额", &settled),
            ("手续费", fee),
        ],
    )
}

fn refund_line(no: &str, refund_no: &str, refund_id: &str, amount: &str, status: &str) -> String {
    line(
        ALL_HEADER,
        &[
            ("交易时间", "2019-07-25 12:00:00"),
            ("商户订单号", no),
            ("交易状态", "REFUND"),
            ("应结订单金额", "0.00"),
            ("订单金额", "0.00"),
            ("微信退款单号", refund_id),
            ("商户退款单号", refund_no),
            ("退款金额", amount),
            ("申请退款金额", amount),
            ("退款类型", "ORIGINAL"),
            ("退款状态", status),
            ("手续费", "-0.01000"),
        ],
    )
}

/// A file with `lines` and the summary they add up to.
fn bill_of(header: &str, lines: &[String]) -> Vec<u8> {
    let mut body = format!("{header}\r\n");
    for l in lines {
        body.push_str(l);
        body.push_str("\r\n");
    }
    body.push_str(ALL_SUMMARY_HEADER);
    body.push_str("\r\n`0,`0.00,`0.00,`0.00,`0.00000,`0.00,`0.00\r\n");
    // Put the real sums in.
    let mut r = BillReader::new(body.as_bytes()).unwrap();
    while r.next_line().is_some() {}
    let c = r.finish().unwrap().computed;
    let summary = format!(
        "`{},`{},`{},`{},`{},`{},`{}",
        c.count,
        parse::yuan(c.settled_fen, 2),
        parse::yuan(c.refund_fen, 2),
        parse::yuan(c.recharge_refund_fen, 2),
        parse::yuan(c.fee_millifen, 5),
        parse::yuan(c.order_fen, 2),
        parse::yuan(c.requested_refund_fen, 2)
    );
    body.replace("`0,`0.00,`0.00,`0.00,`0.00000,`0.00,`0.00", &summary)
        .into_bytes()
}

fn paid(id: i64, no: &str, tx: &str, amount: i64, coupon: i64, at_beijing: &str) -> Payment {
    Payment {
        id,
        out_trade_no: no.into(),
        transaction_id: Some(tx.into()),
        status: PayStatus::Paid,
        amount_fen: amount,
        coupon_fen: coupon,
        paid_at: Some(parse::beijing_to_utc(t(at_beijing))),
    }
}

fn refunded(
    id: i64,
    no: &str,
    refund_no: &str,
    refund_id: &str,
    amount: i64,
    status: RefundStatus,
) -> Refund {
    Refund {
        id,
        out_trade_no: no.into(),
        out_refund_no: refund_no.into(),
        refund_id: Some(refund_id.into()),
        status,
        amount_fen: amount,
        requested_at: parse::beijing_to_utc(t("2019-07-25 12:00:00")),
    }
}

fn run(
    bytes: &[u8],
    day: NaiveDate,
    opts: MatchOptions,
    payments: &[(Payment, bool)],
    refunds: &[(Refund, bool)],
) -> Report {
    let mut bill = BillReader::new(bytes).unwrap();
    let mut m = Matcher::new(day, bill.kind().unwrap_or(BillKind::All), opts);
    for (p, carried) in payments {
        m.add_payment(p, *carried).unwrap();
    }
    for (r, carried) in refunds {
        m.add_refund(r, *carried).unwrap();
    }
    while let Some(l) = bill.next_line() {
        m.feed(&l.unwrap());
    }
    let summary = bill.finish().unwrap();
    summary.check().unwrap();
    m.finish(Some(&summary))
}

/// `(category, out_trade_no, our id)` of every item.
fn cats(r: &Report) -> Vec<(Category, String, Option<i64>)> {
    r.items
        .iter()
        .map(|i| {
            (
                i.category,
                i.out_trade_no.clone(),
                i.ours.as_ref().map(|o| o.id),
            )
        })
        .collect()
}

fn opts() -> MatchOptions {
    MatchOptions {
        fee_rate_ppm: Some(6_000),
        keep_matched: true,
        ..Default::default()
    }
}

#[test]
fn every_payment_category_on_one_day() {
    use Category::*;
    let lines = vec![
        pay_line("A", "TA", "2019-07-25 08:00:00", "6.00", "0.00", "0.04000"), // matched
        pay_line("B", "TB", "2019-07-25 08:01:00", "6.00", "0.00", "0.04000"), // not ours
        pay_line("C", "TC", "2019-07-25 08:02:00", "6.00", "0.00", "0.04000"), // unpaid here
        pay_line("D", "TD", "2019-07-25 08:03:00", "6.00", "0.00", "0.04000"), // other tx id
        pay_line("E", "TE", "2019-07-25 08:04:00", "6.00", "0.00", "0.04000"), // amount
        pay_line("F", "TF", "2019-07-25 08:05:00", "6.00", "1.00", "0.03000"), // coupon
        pay_line("G", "TG", "2019-07-25 08:06:00", "6.00", "0.00", "0.05000"), // fee
        pay_line("A", "TA", "2019-07-25 08:00:00", "6.00", "0.00", "0.04000"), // duplicate
    ];
    let ours = vec![
        (paid(1, "A", "TA", 600, 0, "2019-07-25 08:00:00"), false),
        (
            Payment {
                status: PayStatus::Unpaid,
                transaction_id: None,
                paid_at: None,
                ..paid(3, "C", "", 600, 0, "2019-07-25 08:02:00")
            },
            false,
        ),
        (paid(4, "D", "TX", 600, 0, "2019-07-25 08:03:00"), false),
        (paid(5, "E", "TE", 700, 0, "2019-07-25 08:04:00"), false),
        (paid(6, "F", "TF", 600, 50, "2019-07-25 08:05:00"), false),
        (paid(7, "G", "TG", 600, 0, "2019-07-25 08:06:00"), false),
        (paid(8, "H", "TH", 600, 0, "2019-07-25 09:00:00"), false), // not at WeChat
        (
            Payment {
                status: PayStatus::Closed,
                ..paid(9, "I", "TI", 600, 0, "2019-07-25 09:00:00")
            },
            false,
        ), // closed, in no bill: no item
    ];
    let r = run(&bill_of(ALL_HEADER, &lines), day(), opts(), &ours, &[]);
    assert_eq!(
        cats(&r),
        vec![
            (Matched, "A".into(), Some(1)),
            (MissingHere, "B".into(), None),
            (StatusMismatch, "C".into(), Some(3)),
            (StatusMismatch, "D".into(), Some(4)),
            (AmountMismatch, "E".into(), Some(5)),
            (CouponMismatch, "F".into(), Some(6)),
            (FeeMismatch, "G".into(), Some(7)),
            (Duplicate, "A".into(), Some(1)),
            (MissingAtWechat, "H".into(), Some(8)),
        ]
    );
    let g = &r.items[6];
    assert_eq!(g.expected_fee_millifen, Some(4_000));
    assert_eq!(g.bill.as_ref().unwrap().fee_millifen, 5_000);
    let e = &r.items[4];
    assert_eq!(
        (
            e.bill.as_ref().unwrap().order_fen,
            e.ours.as_ref().unwrap().amount_fen
        ),
        (600, 700)
    );
    assert_eq!(r.counts.matched, 1);
    assert_eq!(r.counts.status_mismatch, 2);
    assert_eq!(r.counts.total(), 9);
    assert_eq!(r.counts.exceptions(), 8);
    assert!(r.disagreements.is_empty());
    assert_eq!(r.ours.payments, 6, "paid ones only");
    assert_eq!(r.fees.lines, 8);
}

#[test]
fn matched_pairs_are_counted_but_kept_only_when_asked() {
    let lines = vec![pay_line(
        "A",
        "TA",
        "2019-07-25 08:00:00",
        "6.00",
        "0.00",
        "0.04000",
    )];
    let ours = vec![(paid(1, "A", "TA", 600, 0, "2019-07-25 08:00:00"), false)];
    let lean = MatchOptions {
        keep_matched: false,
        ..opts()
    };
    let r = run(&bill_of(ALL_HEADER, &lines), day(), lean, &ours, &[]);
    assert_eq!(r.counts.matched, 1);
    assert!(r.items.is_empty());
}

#[test]
fn the_fee_is_checked_against_the_contract_or_the_lines_own_rate() {
    use Category::*;
    // 10.00 at 0.38%: 3.8 fen → 4; the line says 0.38% and charges 0.04.
    let at_038 = line(
        ALL_HEADER,
        &[
            ("商户订单号", "A"),
            ("应结订单金额", "10.00"),
            ("订单金额", "10.00"),
            ("费率", "0.38%"),
            ("手续费", "0.04000"),
        ],
    );
    let ours = vec![(
        paid(1, "A", "XXXXXXXXXXXXX", 1000, 0, "2019-07-25 08:00:00"),
        false,
    )];
    let bytes = bill_of(ALL_HEADER, &[at_038]);
    let by_line = MatchOptions {
        fee_rate_ppm: None,
        ..opts()
    };
    assert_eq!(
        run(&bytes, day(), by_line, &ours, &[]).items[0].category,
        Matched
    );
    // Contracted at 0.60%: the line's rate is not the contract's.
    let r = run(&bytes, day(), opts(), &ours, &[]);
    assert_eq!(r.items[0].category, FeeMismatch);
    assert_eq!(r.items[0].expected_fee_millifen, Some(6_000));
    // No rate on the line and none contracted: the fee is not checked.
    let no_rate = line(
        ALL_HEADER,
        &[
            ("商户订单号", "A"),
            ("应结订单金额", "10.00"),
            ("订单金额", "10.00"),
            ("费率", ""),
            ("手续费", "9.00000"),
        ],
    );
    let r = run(&bill_of(ALL_HEADER, &[no_rate]), day(), by_line, &ours, &[]);
    assert_eq!(r.items[0].category, Matched);
    assert_eq!(r.fees.lines, 0);
}

#[test]
fn refunds_are_matched_by_their_own_number() {
    use Category::*;
    let lines = vec![
        refund_line("P1", "R1", "W1", "2.00", "SUCCESS"), // matched
        refund_line("P2", "R2", "W2", "2.00", "SUCCESS"), // not synced
        refund_line("P3", "R3", "W3", "2.00", "PROCESSING"), // ours succeeded since: matched
        refund_line("P4", "R4", "W4", "2.00", "SUCCESS"), // ours still processing
        refund_line("P5", "R5", "W5", "2.00", "SUCCESS"), // ours asked 3.00
        refund_line("P6", "R6", "W6", "2.00", "SUCCESS"), // another refund id
        refund_line("PX", "R7", "W7", "2.00", "SUCCESS"), // of another order
        refund_line("P1", "R1", "W1", "2.00", "SUCCESS"), // duplicate
        refund_line("P2", "R2", "W2", "2.00", "SUCCESS"), // duplicate of an unknown one
    ];
    let ours = vec![
        (
            refunded(1, "P1", "R1", "W1", 200, RefundStatus::Success),
            false,
        ),
        (
            refunded(3, "P3", "R3", "W3", 200, RefundStatus::Success),
            false,
        ),
        (
            refunded(4, "P4", "R4", "W4", 200, RefundStatus::Processing),
            false,
        ),
        (
            refunded(5, "P5", "R5", "W5", 300, RefundStatus::Success),
            false,
        ),
        (
            refunded(6, "P6", "R6", "WX", 200, RefundStatus::Success),
            false,
        ),
        (
            refunded(7, "P7", "R7", "W7", 200, RefundStatus::Success),
            false,
        ),
        (
            refunded(8, "P8", "R8", "W8", 200, RefundStatus::Processing),
            false,
        ), // not at WeChat
        (
            refunded(9, "P9", "R9", "W9", 200, RefundStatus::Closed),
            false,
        ), // closed: no item
    ];
    let r = run(&bill_of(ALL_HEADER, &lines), day(), opts(), &[], &ours);
    assert_eq!(
        cats(&r),
        vec![
            (Matched, "P1".into(), Some(1)),
            (RefundNotSynced, "P2".into(), None),
            (Matched, "P3".into(), Some(3)),
            (StatusMismatch, "P4".into(), Some(4)),
            (AmountMismatch, "P5".into(), Some(5)),
            (StatusMismatch, "P6".into(), Some(6)),
            (StatusMismatch, "PX".into(), Some(7)),
            (Duplicate, "P1".into(), Some(1)),
            (Duplicate, "P2".into(), None),
            (MissingAtWechat, "P8".into(), Some(8)),
        ]
    );
    assert_eq!(r.items[1].out_refund_no.as_deref(), Some("R2"));
    assert_eq!(r.items[1].kind, ItemKind::Refund);
}

#[test]
fn a_bill_of_one_kind_expects_only_that_kind_of_ours() {
    let pay = (paid(1, "A", "TA", 600, 0, "2019-07-25 08:00:00"), false);
    let refund = (
        refunded(2, "P", "R", "W", 200, RefundStatus::Success),
        false,
    );
    let success = bill_of(SUCCESS_HEADER, &[]);
    let r = run(
        &success,
        day(),
        opts(),
        std::slice::from_ref(&pay),
        std::slice::from_ref(&refund),
    );
    assert_eq!(
        cats(&r),
        vec![(Category::MissingAtWechat, "A".into(), Some(1))]
    );
    let refunds = bill_of(REFUND_HEADER, &[]);
    let r = run(&refunds, day(), opts(), &[pay], &[refund]);
    assert_eq!(
        cats(&r),
        vec![(Category::MissingAtWechat, "P".into(), Some(2))]
    );
}

#[test]
fn near_midnight_ours_waits_one_day_for_the_next_bill() {
    use Category::*;
    let d1 = day();
    let d2 = d1.succ_opt().unwrap();
    let ours_d1 = vec![
        (paid(1, "EDGE", "T1", 600, 0, "2019-07-25 23:45:00"), false), // first second of the window
        (
            paid(2, "BEFORE", "T2", 600, 0, "2019-07-25 23:44:59"),
            false,
        ), // one second before it
        (paid(3, "LATE", "T3", 600, 0, "2019-07-25 23:59:59"), false),
    ];
    let r1 = run(&bill_of(ALL_HEADER, &[]), d1, opts(), &ours_d1, &[]);
    assert_eq!(
        cats(&r1),
        vec![
            (Pending, "EDGE".into(), Some(1)),
            (MissingAtWechat, "BEFORE".into(), Some(2)),
            (Pending, "LATE".into(), Some(3)),
        ]
    );
    // The next day: LATE is in WeChat's bill (at WeChat's 00:00:01), EDGE is not.
    let carried: Vec<(Payment, bool)> = r1
        .items
        .iter()
        .filter(|i| i.category == Pending)
        .map(|i| {
            let p = ours_d1
                .iter()
                .find(|(p, _)| p.id == i.ours.as_ref().unwrap().id)
                .unwrap();
            (p.0.clone(), true)
        })
        .collect();
    let bill2 = bill_of(
        ALL_HEADER,
        &[pay_line(
            "LATE",
            "T3",
            "2019-07-26 00:00:01",
            "6.00",
            "0.00",
            "0.04000",
        )],
    );
    let r2 = run(&bill2, d2, opts(), &carried, &[]);
    assert_eq!(
        cats(&r2),
        vec![
            (Matched, "LATE".into(), Some(3)),
            (MissingAtWechat, "EDGE".into(), Some(1))
        ]
    );
    assert!(r2.items[1].ours.as_ref().unwrap().carried);
    // The window is configurable: none at all flags everything that day.
    let none = MatchOptions {
        window: TimeDelta::zero(),
        ..opts()
    };
    let r = run(&bill_of(ALL_HEADER, &[]), d1, none, &ours_d1, &[]);
    assert_eq!(r.counts.missing_at_wechat, 3);
}

#[test]
fn our_keys_must_be_unique() {
    let mut m = Matcher::new(day(), BillKind::All, opts());
    let p = paid(1, "A", "TA", 600, 0, "2019-07-25 08:00:00");
    m.add_payment(&p, false).unwrap();
    assert_eq!(
        m.add_payment(&p, false),
        Err(MatchError::DuplicatePayment("A".into()))
    );
    let r = refunded(1, "A", "R", "W", 1, RefundStatus::Success);
    m.add_refund(&r, false).unwrap();
    assert_eq!(
        m.add_refund(&r, false),
        Err(MatchError::DuplicateRefund("R".into()))
    );
}

#[test]
fn an_empty_day_flags_what_we_hold() {
    let v2 = b"<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[No Bill Exist]]></return_msg><error_code><![CDATA[20002]]></error_code></xml>";
    let ours = vec![(paid(1, "A", "TA", 600, 0, "2019-07-25 08:00:00"), false)];
    let r = run(&v2[..], day(), opts(), &ours, &[]);
    assert_eq!(
        cats(&r),
        vec![(Category::MissingAtWechat, "A".into(), Some(1))]
    );
    assert!(r.summary.unwrap().no_bill);
}

/// Generates a day, reads it back, matches it: the counts must be the injected ones.
fn synthetic_day(cases: usize, seed: u64) -> (Counts, Report) {
    synthetic_day_on(NaiveDate::from_ymd_opt(2026, 3, 14).unwrap(), cases, seed)
}

fn synthetic_day_on(day: NaiveDate, cases: usize, seed: u64) -> (Counts, Report) {
    let o = SynthOptions::new(day, cases, seed);
    let mut bill = Vec::new();
    let mut ours = Vec::new();
    let expected = synth::generate(&o, &mut bill, |r| {
        ours.push(r);
        Ok(())
    })
    .unwrap();
    let opts = MatchOptions {
        window: o.window,
        fee_rate_ppm: Some(o.fee_rate_ppm),
        keep_matched: false,
    };
    let mut reader = BillReader::new(&bill[..]).unwrap();
    let mut m = Matcher::new(o.day, reader.kind().unwrap(), opts);
    for r in &ours {
        match r {
            Record::Payment(p) => m.add_payment(p, false).unwrap(),
            Record::Refund(r) => m.add_refund(r, false).unwrap(),
        }
    }
    while let Some(l) = reader.next_line() {
        m.feed(&l.unwrap());
    }
    let summary = reader.finish().unwrap();
    summary.check().unwrap();
    (expected, m.finish(Some(&summary)))
}

/// The report counts what was injected, every category was injected, and every case not
/// matched is one item.
fn assert_classified_exactly(expected: &Counts, report: &Report, what: &str) {
    assert_eq!(&report.counts, expected, "{what}");
    for c in Category::ALL {
        assert!(expected.get(c) > 0, "{what}: no {c:?} injected");
    }
    assert_eq!(
        report.items.len() as u64,
        expected.total() - expected.matched,
        "{what}: one item per unmatched case"
    );
}

#[test]
fn a_generated_day_is_classified_exactly() {
    for (cases, seed) in [(20_000, 1), (5_000, 2), (5_000, 3)] {
        let (expected, report) = synthetic_day(cases, seed);
        assert_classified_exactly(&expected, &report, &format!("seed {seed}"));
    }
}

/// A month of days, each its own bill with every kind of discrepancy injected: every day
/// classified exactly.
#[test]
fn a_generated_month_is_classified_exactly() {
    let first = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    for d in 0..31u64 {
        let day = first + chrono::TimeDelta::days(d as i64);
        let (expected, report) = synthetic_day_on(day, 2_000, 100 + d);
        assert_classified_exactly(&expected, &report, &day.to_string());
    }
}

#[test]
fn the_same_day_gives_the_same_report() {
    let (_, a) = synthetic_day(3_000, 9);
    let (_, b) = synthetic_day(3_000, 9);
    assert_eq!(a, b);
}

#[test]
fn our_records_round_trip_through_their_csv() {
    let o = SynthOptions::new(NaiveDate::from_ymd_opt(2026, 3, 14).unwrap(), 2_000, 5);
    let mut records = Vec::new();
    synth::generate(&o, &mut std::io::sink(), |r| {
        records.push(r);
        Ok(())
    })
    .unwrap();
    let mut csv = Vec::new();
    ours_csv::write_header(&mut csv).unwrap();
    for r in &records {
        ours_csv::write_record(&mut csv, r).unwrap();
    }
    let mut back = Vec::new();
    let n = ours_csv::read(&csv[..], |row| {
        back.push(match row {
            ours_csv::Row::Payment(p) => Record::Payment(Payment {
                id: p.id,
                out_trade_no: p.out_trade_no.to_string(),
                transaction_id: p.transaction_id.map(str::to_string),
                status: p.status,
                amount_fen: p.amount_fen,
                coupon_fen: p.coupon_fen,
                paid_at: p.paid_at,
            }),
            ours_csv::Row::Refund(f) => Record::Refund(Refund {
                id: f.id,
                out_trade_no: f.out_trade_no.to_string(),
                out_refund_no: f.out_refund_no.to_string(),
                refund_id: f.refund_id.map(str::to_string),
                status: f.status,
                amount_fen: f.amount_fen,
                requested_at: f.requested_at,
            }),
        })
    })
    .unwrap();
    assert_eq!(n as usize, records.len());
    assert_eq!(back, records);
    let bad = format!("{}\npayment,1,A,,paid,x,0,,,\n", ours_csv::HEADER);
    let e = ours_csv::read(bad.as_bytes(), |_| {}).unwrap_err();
    assert_eq!((e.line, e.what.as_str()), (2, "bad amount_fen"));
}

#[test]
fn blank_lines_are_read_past_and_line_numbers_stay_true() {
    let s = format!(
        "\u{feff}{ALL_HEADER}\r\n\r\n{REAL_2019}\r\n\r\n{ALL_SUMMARY_HEADER}\r\n{REAL_2019_SUMMARY}\r\n\r\n\r\n"
    );
    let (_, lines, summary) = read_all(s.as_bytes()).unwrap();
    assert_eq!(lines[0].line, 3);
    assert_eq!(summary.line, Some(6));
    let bad = format!("{ALL_HEADER}\r\n\r\n{REAL_2019}\r\n\r\n`x\r\n");
    assert_eq!(
        err_of(bad.as_bytes()),
        BillError::ColumnCount {
            line: 5,
            expected: 27,
            found: 1
        }
    );
}

#[test]
fn a_revoked_micropay_matches_only_a_revoked_payment() {
    let revoked = line(
        ALL_HEADER,
        &[
            ("商户订单号", "A"),
            ("交易状态", "REVOKED"),
            ("交易类型", "MICROPAY"),
            ("手续费", "0.00000"),
        ],
    );
    let bytes = bill_of(ALL_HEADER, &[revoked]);
    let p = paid(1, "A", "XXXXXXXXXXXXX", 600, 0, "2019-07-25 08:00:00");
    let r = run(&bytes, day(), opts(), &[(p.clone(), false)], &[]);
    assert_eq!(r.items[0].category, Category::StatusMismatch);
    let revoked_here = Payment {
        status: PayStatus::Revoked,
        ..p
    };
    let r = run(&bytes, day(), opts(), &[(revoked_here, false)], &[]);
    assert_eq!(
        r.items[0].category,
        Category::Matched,
        "and its fee is not checked"
    );
}
