//! `reconcile_bill`: reconciles a stored trade bill (an upload, or the daily fetch's,
//! downloaded here first), with progress by the bytes read, then mails the day's
//! summary to the tenant's administrators.
//!
//! Payload: `{"tenant_id": 42, "file_id": 7}`. The run and the file's "done" commit
//! together (`patron_app::bills::reconcile_file`), so a retried job never stores a day
//! twice; a bill that is refused (not a bill, a wrong line, another day than asked)
//! marks the file failed and ends the job without retrying, since the same bytes would
//! be refused again.

use crate::worker::{Handler, JobCtx};
use crate::JobError;
use patron_app::bills::{self, ChunkWriter, Reconciled};
use patron_domain::{TenantId, TenantScope};
use patron_store::bill_files::{self as files, source, state, BillFile, Change};
use patron_store::reconcile::Run;
use patron_store::{tenants, SecretBox};
use patron_wechat::pay::v3::bill::{Fetched, MerchantSigner, TradeBillClient};

pub const KIND: &str = patron_store::jobs::kinds::RECONCILE_BILL;

pub type Payload = patron_app::jobs::ReconcileBill;

/// What the job needs besides the database.
#[derive(Clone)]
pub struct BillChannel {
    pub secrets: SecretBox,
    /// WeChat Pay's API (`https://api.mch.weixin.qq.com`; the simulator in tests).
    pub pay_api_base: String,
    pub mailer: patron_mail::Mailer,
    /// Where merchants reach Patron (the summary's link).
    pub base_url: String,
}

pub fn handler(channel: BillChannel) -> Handler {
    Box::new(move |ctx| run(ctx, &channel))
}

fn run(ctx: &mut JobCtx, ch: &BillChannel) -> Result<(), JobError> {
    let p: Payload = patron_app::jobs::payload(&ctx.job.payload)?;
    if ctx.job.tenant_id != Some(p.tenant_id) {
        return Err(JobError::WrongTenant);
    }
    let mut c = ctx.pool.get()?;
    let tref = tenants::find_ref_by_id(&mut c, TenantId(p.tenant_id))?
        .ok_or_else(|| format!("tenant {} not found", p.tenant_id))?;
    let scope = TenantScope::system(tref);
    let f = files::get(&mut c, &scope, p.file_id)?;
    drop(c);
    if f.source == source::FETCH && f.state == state::RECEIVING {
        if let Some(why) = fetch(ctx, ch, &scope, &f)? {
            tracing::warn!(file = f.id, day = ?f.bill_date, reason = %why, "bill fetch failed");
            let mut c = ctx.pool.get()?;
            bills::fetch_failed(&mut c, &scope, f.id, &why)?;
            let last = files::fetches_of(&mut c, &scope, f.bill_date.unwrap_or_default())?.len()
                >= bills::FETCH_ATTEMPTS;
            drop(c);
            if last {
                mail(ctx, ch, &scope, Summary::FetchFailed(&f, &why))?;
            }
            return Ok(());
        }
    }
    let total = f.size_bytes.max(1);
    let pool = ctx.pool.clone();
    // Progress every 4 MiB read (a row update and a lease extension each).
    let mut last = 0u64;
    let mut failed = None;
    let mut report = |read: u64, size: u64| {
        if read == size || read >= last + (4 << 20) {
            last = read;
            if let Err(e) = ctx.progress(read as i64, Some(size.max(1) as i64)) {
                failed.get_or_insert(e);
            }
        }
    };
    let out = bills::reconcile_file(&pool, &scope, f.id, &mut report)?;
    if let Some(e) = failed {
        tracing::warn!(file = f.id, error = %e, "progress not recorded");
    }
    ctx.progress(total, Some(total))?;
    match out {
        Reconciled::Run(run) => {
            tracing::info!(file = f.id, run = run.id, day = %run.bill_date, "bill reconciled");
            ctx.result(&serde_json::json!({ "run": run.id }).to_string())?;
            mail(ctx, ch, &scope, Summary::Run(&run))
        }
        Reconciled::Refused(why) => {
            ctx.result(&serde_json::json!({ "refused": why }).to_string())?;
            if f.source == source::FETCH {
                mail(ctx, ch, &scope, Summary::FetchFailed(&f, &why))?;
            }
            Ok(())
        }
    }
}

/// Downloads the day's bill into the file's chunks and moves it on to `queued`;
/// answers why not when the fetch failed (recorded on the file by the caller).
fn fetch(
    ctx: &mut JobCtx,
    ch: &BillChannel,
    scope: &TenantScope,
    f: &BillFile,
) -> Result<Option<String>, JobError> {
    let Some(day) = f.bill_date else {
        return Ok(Some("a fetch without its day".into()));
    };
    let mut c = ctx.pool.get()?;
    let settings = patron_store::payments::settings(&mut c, scope, &ch.secrets)?;
    // An earlier attempt of this job may have stored part of the file.
    files::restart(&mut c, scope, f.id)?;
    drop(c);
    let Some(s) = settings else {
        return Ok(Some("WeChat Pay is not set up".into()));
    };
    let (Some(serial), Some(key)) = (s.merchant_serial.as_deref(), s.merchant_key.as_deref())
    else {
        return Ok(Some("the merchant API certificate is not set".into()));
    };
    let signer = match MerchantSigner::from_pem(&s.mch_id, serial, key) {
        Ok(k) => k,
        Err(e) => return Ok(Some(format!("the merchant key: {e}"))),
    };
    let platform = match patron_app::payments::platform_keys(&s.platform_keys) {
        Ok(k) => k,
        Err(e) => return Ok(Some(format!("the platform keys: {e}"))),
    };
    let client = match TradeBillClient::new(&ch.pay_api_base) {
        Ok(c) => c,
        Err(e) => return Ok(Some(format!("the bill API: {e}"))),
    };
    let rt = crate::tenant::runtime()?;
    let mut sink = ChunkWriter::new(ctx.pool.clone(), scope.clone(), f.id);
    let now = chrono::Utc::now().timestamp();
    let fetched = rt.block_on(client.fetch(&signer, &platform, day, "ALL", now, &mut sink));
    let sha1 = match fetched {
        Ok(Fetched::Bill { sha1, .. }) => sha1,
        // A day without trades: WeChat's answer is kept as the bill, which the parser
        // reads as an empty day (so the run flags anything we recorded that day).
        Ok(Fetched::NoBill) => {
            use std::io::Write;
            sink.write_all(br#"{"code":"NO_STATEMENT_EXIST","message":"no trades"}"#)
                .map_err(|e| e.to_string())?;
            String::new()
        }
        Ok(Fetched::NotReady) => return Ok(Some("the bill is not ready yet".into())),
        Err(e) => return Ok(Some(e.to_string())),
    };
    let stored = sink.finish().map_err(|e| e.to_string())?;
    let sha1 = if sha1.is_empty() { stored } else { sha1 };
    let mut c = ctx.pool.get()?;
    patron_store::write_tx(&mut c, |c| {
        files::transition(
            c,
            scope,
            f.id,
            state::RECEIVING,
            state::QUEUED,
            Change {
                sha1: Some(&sha1),
                ..Change::default()
            },
        )
    })?;
    Ok(None)
}

enum Summary<'a> {
    Run(&'a Run),
    FetchFailed(&'a BillFile, &'a str),
}

/// Mails the outcome to the tenant's administrators (its merchant admins, or the
/// agency's when it has none), each in their language. A mail that fails is logged: the
/// run is stored and shown on the page either way.
fn mail(
    ctx: &mut JobCtx,
    ch: &BillChannel,
    scope: &TenantScope,
    what: Summary<'_>,
) -> Result<(), JobError> {
    let mut c = ctx.pool.get()?;
    let tenant = tenants::get(&mut c, scope)?;
    let mut to: Vec<(String, bool)> = patron_store::users::tenant_members(&mut c, scope)?
        .into_iter()
        .filter(|m| m.role == patron_domain::Role::MerchantAdmin.as_str())
        .map(|m| (m.user.email, m.user.locale.as_deref() == Some("zh-CN")))
        .collect();
    if to.is_empty() {
        to = patron_store::users::agency_admins(
            &mut c,
            &patron_domain::AgencyScope::system(scope.agency_id()),
        )?
        .into_iter()
        .map(|u| (u.email, u.locale.as_deref() == Some("zh-CN")))
        .collect();
    }
    drop(c);
    let link = format!(
        "{}/t/{}/reconciliation",
        ch.base_url.trim_end_matches('/'),
        tenant.slug
    );
    let rt = crate::tenant::runtime()?;
    for (address, zh) in to {
        let (subject, text) = compose(&what, &tenant.name, &link, zh);
        let email = patron_mail::Email {
            to: address,
            subject,
            text,
            html: None,
            unsubscribe: None,
        };
        if let Err(e) = rt.block_on(ch.mailer.send(email)) {
            tracing::warn!(tenant = %tenant.slug, error = %e, "reconciliation summary not mailed");
        }
    }
    Ok(())
}

/// The summary's subject and text, in English or Simplified Chinese.
fn compose(what: &Summary<'_>, tenant: &str, link: &str, zh: bool) -> (String, String) {
    match what {
        Summary::Run(run) => {
            let counts: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&run.counts).unwrap_or_default();
            let get = |k: &str| counts.get(k).and_then(|v| v.as_i64()).unwrap_or(0);
            let open: i64 = counts
                .iter()
                .filter(|(k, _)| k.as_str() != "matched" && k.as_str() != "pending")
                .map(|(_, v)| v.as_i64().unwrap_or(0))
                .sum();
            let mut lines = Vec::new();
            for (k, v) in &counts {
                let n = v.as_i64().unwrap_or(0);
                if n > 0 {
                    lines.push(format!("  {}: {n}", category(k, zh)));
                }
            }
            let day = run.bill_date;
            if zh {
                let subject = if open == 0 {
                    format!("{tenant} {day} 对账：全部相符")
                } else {
                    format!("{tenant} {day} 对账：{open} 项异常待处理")
                };
                let mut text = format!(
                    "{tenant} 已核对 {day} 的微信支付交易账单（{} 行，{} 对平 {}）。\n\n{}\n",
                    run.bill_lines,
                    get("matched"),
                    if run.summary_ok {
                        ""
                    } else {
                        "；账单汇总与明细不符"
                    },
                    lines.join("\n")
                );
                text.push_str(&format!("\n处理异常：{link}\n"));
                (subject, text)
            } else {
                let subject = if open == 0 {
                    format!("{tenant} reconciliation of {day}: everything matched")
                } else {
                    format!("{tenant} reconciliation of {day}: {open} exceptions to resolve")
                };
                let mut text = format!(
                    "{tenant}: the WeChat Pay trade bill of {day} was reconciled ({} lines, {} matched{}).\n\n{}\n",
                    run.bill_lines,
                    get("matched"),
                    if run.summary_ok {
                        ""
                    } else {
                        "; the bill's summary disagrees with its lines"
                    },
                    lines.join("\n")
                );
                text.push_str(&format!("\nResolve them: {link}\n"));
                (subject, text)
            }
        }
        Summary::FetchFailed(f, why) => {
            let day = f
                .bill_date
                .map(|d| d.to_string())
                .unwrap_or_else(|| f.name.clone());
            if zh {
                (
                    format!("{tenant} {day} 的交易账单未能下载"),
                    format!("{tenant} {day} 的微信支付交易账单未能下载或对账：{why}\n\n可在此上传账单：{link}\n"),
                )
            } else {
                (
                    format!("{tenant}: the trade bill of {day} could not be fetched"),
                    format!("{tenant}: the WeChat Pay trade bill of {day} could not be fetched or reconciled: {why}\n\nUpload it here instead: {link}\n"),
                )
            }
        }
    }
}

/// A category in words (the page's catalogue has the same words; jobs cannot reach it).
fn category(k: &str, zh: bool) -> &str {
    let (en, cn) = match k {
        "matched" => ("Matched", "对平"),
        "missing_here" => ("Paid at WeChat, missing here", "微信有、本系统无"),
        "missing_at_wechat" => ("Here, missing at WeChat", "本系统有、微信无"),
        "status_mismatch" => ("Status differs", "状态不符"),
        "amount_mismatch" => ("Amount differs", "金额不符"),
        "coupon_mismatch" => ("Discount differs", "优惠金额不符"),
        "fee_mismatch" => ("Fee differs", "手续费不符"),
        "duplicate" => ("Duplicate", "重复"),
        "refund_not_synced" => ("Refund not recorded here", "退款未同步"),
        "pending" => ("Waiting for the next day", "等待次日账单"),
        other => (other, other),
    };
    if zh {
        cn
    } else {
        en
    }
}
