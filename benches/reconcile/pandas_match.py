#!/usr/bin/env python3
"""Classify one day's WeChat Pay trade bill against our records with pandas, by the rules
of `patron_domain::bill::matcher` (listed in README.md): the contender `patron bench
reconcile-files` runs beside the Rust matcher.

    python3 pandas_match.py BILL ORDERS --day 2026-03-14 --window-minutes 15 --fee-rate-ppm 6000

Prints one JSON line: the count per category, whether the bill's summary agrees with its
lines, the seconds from opening the files to the counts, and the peak RSS in KiB. One
day, an ALL bill, no records carried over from the day before. Amounts are taken with
the decimals WeChat prints (two; five for the fee), dropping the point.
"""

import csv
import time

import numpy as np
import pandas as pd

import reconcile_common as rc

PAID = ["paid", "refunded"]


def read_bill(path):
    raw = pd.read_csv(
        path,
        dtype=str,
        usecols=rc.BILL_COLUMNS,
        keep_default_na=False,
        quoting=csv.QUOTE_NONE,
        encoding="utf-8-sig",
    )
    # The detail lines end where the summary header starts (short rows come back padded).
    end = int(np.argmax(raw["交易时间"].to_numpy() == rc.SUMMARY_FIRST))
    lines = raw.iloc[:end]
    text = lambda col: lines[col].str.slice(1)
    money = lambda col: text(col).str.replace(".", "", regex=False).astype("int64")
    rates = text("费率")
    return pd.DataFrame(
        {
            "out_trade_no": text("商户订单号"),
            "transaction_id": text("微信订单号"),
            "state": text("交易状态"),
            "refund_id": text("微信退款单号"),
            "out_refund_no": text("商户退款单号"),
            "refund_status": text("退款状态").map(rc.REFUND_STATES),
            "settled": money("应结订单金额"),
            "coupon": money("代金券金额"),
            "refund": money("退款金额"),
            "recharge_refund": money("充值券退款金额"),
            "order": money("订单金额"),
            "requested": money("申请退款金额"),
            "fee": money("手续费"),
            # Few distinct rates: each converted once, exactly.
            "rate": rates.map({r: rc.rate_ppm(r) for r in rates.unique()}),
        }
    )


def read_orders(path):
    o = pd.read_csv(
        path,
        dtype={"kind": str, "out_trade_no": str, "transaction_id": str, "status": str, "at_utc": str,
               "out_refund_no": str, "refund_id": str, "id": "int64", "amount_fen": "int64", "coupon_fen": "int64"},
    )
    o["at"] = pd.to_datetime(o["at_utc"], format="%Y-%m-%d %H:%M:%S")
    return o


def first_and_repeats(lines, key):
    """The first line of each key, and how many lines repeat an earlier one."""
    repeat = lines.groupby(key, sort=False).cumcount() > 0
    return lines[~repeat], int(repeat.sum())


def leftovers(ours, seen_keys, key, pending_from):
    """Ours that no first line named: pending near midnight, else missing at WeChat."""
    left = ours[~ours[key].isin(seen_keys)]
    pending = int((left["at"] >= pending_from).sum())
    return {"pending": pending, "missing_at_wechat": len(left) - pending}


def tally(counts, categories):
    for k, v in pd.Series(categories).value_counts().items():
        counts[k] += int(v)


def classify(args):
    bill = read_bill(args.bill)
    orders = read_orders(args.orders)
    counts = {c: 0 for c in rc.CATEGORIES}
    pending_from = rc.pending_from(args.day, args.window_minutes)
    contract = args.fee_rate_ppm

    # Payments.
    payments = bill[bill["state"] != "REFUND"]
    first, repeats = first_and_repeats(payments, "out_trade_no")
    counts["duplicate"] += repeats
    ours = orders[orders["kind"] == "payment"].rename(
        columns={"transaction_id": "our_txid", "status": "our_status", "amount_fen": "our_amount", "coupon_fen": "our_coupon"}
    )[["out_trade_no", "our_txid", "our_status", "our_amount", "our_coupon", "at"]]
    j = first.merge(ours, on="out_trade_no", how="left", indicator=True)
    known = j["_merge"] == "both"
    status_bad = np.where(j["state"] == "REVOKED", j["our_status"] != "revoked", ~j["our_status"].isin(PAID))
    txid_bad = j["our_txid"].notna() & (j["our_txid"] != j["transaction_id"])
    rate = pd.Series(contract, index=j.index) if contract is not None else j["rate"]
    expected_fee = (j["settled"] * rate + 500_000) // 1_000_000 * 1000
    fee_ok = j["fee"] == expected_fee
    if contract is not None:
        fee_ok &= j["rate"] == contract
    fee_checked = (j["state"] == "SUCCESS") & rate.notna()
    tally(counts, np.select(
        [~known, status_bad | txid_bad, j["order"] != j["our_amount"], j["coupon"] != j["our_coupon"], fee_checked & ~fee_ok],
        ["missing_here", "status_mismatch", "amount_mismatch", "coupon_mismatch", "fee_mismatch"],
        default="matched",
    ))
    for k, v in leftovers(ours[ours["our_status"].isin(PAID)], first["out_trade_no"], "out_trade_no", pending_from).items():
        counts[k] += v

    # Refunds.
    refunds = bill[bill["state"] == "REFUND"]
    first, repeats = first_and_repeats(refunds, "out_refund_no")
    counts["duplicate"] += repeats
    ours = orders[orders["kind"] == "refund"].rename(
        columns={"out_trade_no": "our_order", "refund_id": "our_refund_id", "status": "our_status", "amount_fen": "our_amount"}
    )[["out_refund_no", "our_order", "our_refund_id", "our_status", "our_amount", "at"]]
    j = first.merge(ours, on="out_refund_no", how="left", indicator=True)
    known = j["_merge"] == "both"
    ids_bad = (j["our_refund_id"].notna() & (j["our_refund_id"] != j["refund_id"])) | (j["our_order"] != j["out_trade_no"])
    state_bad = j["refund_status"].notna() & (j["refund_status"] != j["our_status"]) & (j["refund_status"] != "processing")
    tally(counts, np.select(
        [~known, ids_bad | state_bad, j["requested"] != j["our_amount"]],
        ["refund_not_synced", "status_mismatch", "amount_mismatch"],
        default="matched",
    ))
    for k, v in leftovers(ours[ours["our_status"] != "closed"], first["out_refund_no"], "out_refund_no", pending_from).items():
        counts[k] += v

    # The summary against the lines.
    sums = {
        "应结订单总金额": int(bill["settled"].sum()),
        "退款总金额": int(bill["refund"].sum()),
        "充值券退款总金额": int(bill["recharge_refund"].sum()),
        "手续费总金额": int(bill["fee"].sum()),
        "订单总金额": int(bill["order"].sum()),
        "申请退款总金额": int(bill["requested"].sum()),
    }
    agrees = rc.summary_agrees(rc.read_summary(args.bill), len(bill), sums)
    return counts, agrees


def main():
    args = rc.parse_args("pandas")
    started = time.perf_counter()
    counts, agrees = classify(args)
    rc.report("pandas", pd.__version__, counts, agrees, started)


if __name__ == "__main__":
    main()
