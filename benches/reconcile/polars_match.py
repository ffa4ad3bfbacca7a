#!/usr/bin/env python3
"""Classify one day's WeChat Pay trade bill against our records with polars, by the rules
of `patron_domain::bill::matcher` (listed in README.md): the contender `patron bench
reconcile-files` runs beside the Rust matcher.

    python3 polars_match.py BILL ORDERS --day 2026-03-14 --window-minutes 15 --fee-rate-ppm 6000

Prints one JSON line: the count per category, whether the bill's summary agrees with its
lines, the seconds from opening the files to the counts, and the peak RSS in KiB. One
day, an ALL bill, no records carried over from the day before.
"""

import time

import polars as pl

import reconcile_common as rc

PAID = ["paid", "refunded"]


def money(col):
    """'`6.00' -> 600 (fen), exactly."""
    return (pl.col(col).str.slice(1).str.to_decimal(scale=2) * 100).cast(pl.Int64)


def read_bill(path):
    raw = pl.read_csv(path, infer_schema=False, quote_char=None, columns=rc.BILL_COLUMNS)
    # The detail lines end where the summary header starts (its row is short: polars
    # fills the missing columns with nulls).
    end = raw.get_column("交易时间").index_of(rc.SUMMARY_FIRST)
    lines = raw.head(end)
    text = lambda col: pl.col(col).str.slice(1)
    return lines.select(
        out_trade_no=text("商户订单号"),
        transaction_id=text("微信订单号"),
        state=text("交易状态"),
        refund_id=text("微信退款单号"),
        out_refund_no=text("商户退款单号"),
        refund_status=text("退款状态").replace_strict(rc.REFUND_STATES, default=None),
        settled=money("应结订单金额"),
        coupon=money("代金券金额"),
        refund=money("退款金额"),
        recharge_refund=money("充值券退款金额"),
        order=money("订单金额"),
        requested=money("申请退款金额"),
        fee=(text("手续费").str.to_decimal(scale=5) * 100_000).cast(pl.Int64),
        rate=(text("费率").str.strip_suffix("%").str.to_decimal(scale=4) * 10_000).cast(pl.Int64),
    )


def read_orders(path):
    o = pl.read_csv(
        path,
        schema_overrides={"id": pl.Int64, "amount_fen": pl.Int64, "coupon_fen": pl.Int64},
        infer_schema=False,
    )
    return o.with_columns(at=pl.col("at_utc").str.to_datetime("%Y-%m-%d %H:%M:%S"))


def first_and_repeats(lines, key):
    """The first line of each key, and how many lines repeat an earlier one."""
    repeat = pl.int_range(pl.len()).over(key) > 0
    return lines.filter(~repeat), lines.filter(repeat).height


def count(series_of_categories):
    return dict(series_of_categories.value_counts().iter_rows())


def leftovers(ours, seen_keys, key, pending_from):
    """Ours that no first line named: pending near midnight, else missing at WeChat."""
    left = ours.join(seen_keys, on=key, how="anti")
    pending = left.filter(pl.col("at") >= pending_from).height
    return {"pending": pending, "missing_at_wechat": left.height - pending}


def classify(args):
    bill = read_bill(args.bill)
    orders = read_orders(args.orders)
    counts = {c: 0 for c in rc.CATEGORIES}
    add = lambda d: [counts.__setitem__(k, counts[k] + v) for k, v in d.items()]
    pending_from = rc.pending_from(args.day, args.window_minutes)
    contract = args.fee_rate_ppm

    # Payments.
    payments = bill.filter(pl.col("state") != "REFUND")
    first, repeats = first_and_repeats(payments, "out_trade_no")
    add({"duplicate": repeats})
    ours = orders.filter(pl.col("kind") == "payment").select(
        "out_trade_no",
        known=pl.lit(True),
        our_txid="transaction_id",
        our_status="status",
        our_amount="amount_fen",
        our_coupon="coupon_fen",
        at="at",
    )
    j = first.join(ours, on="out_trade_no", how="left")
    status_bad = (
        pl.when(pl.col("state") == "REVOKED")
        .then(pl.col("our_status") != "revoked")
        .otherwise(~pl.col("our_status").is_in(PAID))
    )
    txid_bad = pl.col("our_txid").is_not_null() & (pl.col("our_txid") != pl.col("transaction_id"))
    rate = pl.lit(contract, dtype=pl.Int64) if contract is not None else pl.col("rate")
    expected_fee = (pl.col("settled") * rate + 500_000) // 1_000_000 * 1000
    fee_ok = pl.col("fee") == expected_fee
    if contract is not None:
        fee_ok = fee_ok & (pl.col("rate") == contract)
    fee_checked = (pl.col("state") == "SUCCESS") & rate.is_not_null()
    category = (
        pl.when(pl.col("known").is_null()).then(pl.lit("missing_here"))
        .when(status_bad | txid_bad).then(pl.lit("status_mismatch"))
        .when(pl.col("order") != pl.col("our_amount")).then(pl.lit("amount_mismatch"))
        .when(pl.col("coupon") != pl.col("our_coupon")).then(pl.lit("coupon_mismatch"))
        .when(fee_checked & ~fee_ok).then(pl.lit("fee_mismatch"))
        .otherwise(pl.lit("matched"))
    )
    add(count(j.select(category.alias("c")).get_column("c")))
    add(leftovers(ours.filter(pl.col("our_status").is_in(PAID)), first.select("out_trade_no"), "out_trade_no", pending_from))

    # Refunds.
    refunds = bill.filter(pl.col("state") == "REFUND")
    first, repeats = first_and_repeats(refunds, "out_refund_no")
    add({"duplicate": repeats})
    ours = orders.filter(pl.col("kind") == "refund").select(
        "out_refund_no",
        known=pl.lit(True),
        our_order="out_trade_no",
        our_refund_id="refund_id",
        our_status="status",
        our_amount="amount_fen",
        at="at",
    )
    j = first.join(ours, on="out_refund_no", how="left")
    ids_bad = (
        pl.col("our_refund_id").is_not_null() & (pl.col("our_refund_id") != pl.col("refund_id"))
    ) | (pl.col("our_order") != pl.col("out_trade_no"))
    state_bad = (
        pl.col("refund_status").is_not_null()
        & (pl.col("refund_status") != pl.col("our_status"))
        & (pl.col("refund_status") != "processing")
    )
    category = (
        pl.when(pl.col("known").is_null()).then(pl.lit("refund_not_synced"))
        .when(ids_bad | state_bad).then(pl.lit("status_mismatch"))
        .when(pl.col("requested") != pl.col("our_amount")).then(pl.lit("amount_mismatch"))
        .otherwise(pl.lit("matched"))
    )
    add(count(j.select(category.alias("c")).get_column("c")))
    add(leftovers(ours.filter(pl.col("our_status") != "closed"), first.select("out_refund_no"), "out_refund_no", pending_from))

    # The summary against the lines.
    sums = bill.select(
        pl.col("settled").sum(), pl.col("refund").sum(), pl.col("recharge_refund").sum(),
        pl.col("fee").sum(), pl.col("order").sum(), pl.col("requested").sum(),
    ).row(0)
    columns = ["应结订单总金额", "退款总金额", "充值券退款总金额", "手续费总金额", "订单总金额", "申请退款总金额"]
    agrees = rc.summary_agrees(rc.read_summary(args.bill), bill.height, dict(zip(columns, sums)))
    return counts, agrees


def main():
    args = rc.parse_args("polars")
    started = time.perf_counter()
    counts, agrees = classify(args)
    rc.report("polars", pl.__version__, counts, agrees, started)


if __name__ == "__main__":
    main()
