"""What the polars and pandas scripts share: arguments, the bill's summary, the day's
cut-off, exact decimals and the one JSON line each prints.

The classification rules themselves are in each script (that is what is compared) and in
README.md beside this file; they are those of `patron_domain::bill::matcher`.
"""

import argparse
import json
import resource
import time
from datetime import date, datetime, timedelta
from decimal import Decimal

CATEGORIES = [
    "matched",
    "missing_here",
    "missing_at_wechat",
    "status_mismatch",
    "amount_mismatch",
    "coupon_mismatch",
    "fee_mismatch",
    "duplicate",
    "refund_not_synced",
    "pending",
]

SUMMARY_FIRST = "总交易单数"

# The bill columns the classification reads (ALL layout, by name).
BILL_COLUMNS = [
    "交易时间",  # only to find where the detail lines end
    "微信订单号",
    "商户订单号",
    "交易状态",
    "应结订单金额",
    "代金券金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款状态",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
]

# The bill's refund states in our spelling.
REFUND_STATES = {
    "PROCESSING": "processing",
    "SUCCESS": "success",
    "REFUNDCLOSE": "closed",
    "CLOSED": "closed",
    "CHANGE": "abnormal",
    "ABNORMAL": "abnormal",
}


def parse_args(tool):
    p = argparse.ArgumentParser(description=f"Classify a trade bill against our records with {tool}.")
    p.add_argument("bill", help="the trade bill (ALL layout)")
    p.add_argument("orders", help="our records (kind,id,out_trade_no,transaction_id,status,amount_fen,coupon_fen,at_utc,out_refund_no,refund_id)")
    p.add_argument("--day", required=True, help="the bill's day, Beijing (YYYY-MM-DD)")
    p.add_argument("--window-minutes", type=int, default=15, help="pending window before the day's end")
    p.add_argument("--fee-rate-ppm", type=int, default=None, help="the contracted fee rate in millionths (0.60%% is 6000)")
    return p.parse_args()


def pending_from(day_text, window_minutes):
    """The UTC instant from which a record of ours missing from the bill is pending: the
    day's end in Beijing (UTC+8) less the window."""
    day = date.fromisoformat(day_text)
    end_utc = datetime(day.year, day.month, day.day) + timedelta(days=1) - timedelta(hours=8)
    return end_utc - timedelta(minutes=window_minutes)


def units(text, scale):
    """An exact decimal as an integer number of 10^-scale units."""
    return int(Decimal(text).scaleb(scale))


def rate_ppm(text):
    """'0.60%' -> 6000."""
    return units(text.rstrip("%"), 4)


def read_summary(path):
    """The summary header and line, from the end of the file: {name: value}."""
    with open(path, "rb") as f:
        f.seek(0, 2)
        f.seek(max(0, f.tell() - 8192))
        tail = f.read().decode("utf-8", "replace")
    lines = [l for l in tail.splitlines() if l.strip()]
    header, values = lines[-2].split(","), lines[-1].split(",")
    if header[0] != SUMMARY_FIRST or len(header) != len(values):
        raise SystemExit("the file does not end with its summary")
    return {h: v.lstrip("`") for h, v in zip(header, values)}


def summary_agrees(summary, count, sums):
    """Whether every total the summary declares equals the lines' sum. `sums` maps the
    summary's column to the sum in fen (the fee in thousandths of a fen)."""
    if int(summary[SUMMARY_FIRST]) != count:
        return False
    for column, total in sums.items():
        if column in summary:
            scale = 5 if column == "手续费总金额" else 2
            if units(summary[column], scale) != total:
                return False
    return True


def report(tool, version, counts, summary_ok, started):
    out = {"tool": tool, "version": version}
    out.update({c: int(counts.get(c, 0)) for c in CATEGORIES})
    out["summary_ok"] = bool(summary_ok)
    out["unmatched"] = sum(out[c] for c in CATEGORIES) - out["matched"]
    out["elapsed_s"] = round(time.perf_counter() - started, 3)
    out["peak_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(out))
