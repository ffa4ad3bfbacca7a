//! The history's store visits, through the paths the till, WeChat Pay and the staff
//! use: goodwill coupons issued by hand (`patron_store::coupons::issue`), redemptions
//! at the stores' tills (`patron_app::redeemer`, with an order reference, so the order's
//! payment is expected), WeChat Pay's payment and refund notifications once verified
//! (`patron_app::payments`, which award and take back points), points spent on rewards
//! (`patron_app::loyalty::post_points`); then broadcasts sent from WeChat's own console
//! (`patron_app::broadcasts::record_external`) and one drafted in Patron and scheduled
//! to go out a few minutes from now.
//!
//! As in `ingest`, each row is then moved back to when it happened.

use super::history::{self, Level, SEED};
use super::{fail, Held, Shop, R};
use chrono::{NaiveDateTime, TimeDelta, Timelike};
use diesel::prelude::*;
use patron_app::payments::Applied;
use patron_app::redeemer::{Ask, Redeemer};
use patron_app::till::Gated;
use patron_store::coupons::Redeemed;
use patron_store::schema::{
    broadcast_slots as bs, coupon_events as ev, coupons as cp, pay_notifications as pn,
    payments as pay, points_ledger as pl, refunds as rf,
};
use patron_store::{write_tx, DbConn, DbPool};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// How a row moves back in time.
enum Fix {
    /// A coupon issued at `at`, valid until `until`.
    Issued {
        id: i64,
        at: NaiveDateTime,
        until: NaiveDateTime,
    },
    /// Redeemed at `at`: the coupon, its event (and the answer stored with it), the
    /// order the till expected.
    Redeemed {
        coupon: i64,
        order: String,
        at: NaiveDateTime,
    },
    /// A payment notified at `at` (created then, unless the till expected it earlier).
    Paid {
        order: String,
        key: String,
        at: NaiveDateTime,
        created: bool,
    },
    Refunded {
        order: String,
        refund: String,
        key: String,
        at: NaiveDateTime,
    },
    /// A ledger entry by id.
    Entry {
        id: i64,
        at: NaiveDateTime,
    },
    /// A ledger entry by its key.
    Keyed {
        follower: i64,
        key: String,
        at: NaiveDateTime,
    },
    Slot {
        id: i64,
        at: NaiveDateTime,
    },
}

/// What the tills did, for the summary.
#[derive(Default, Debug, Clone, Copy)]
pub struct Done {
    pub redeemed: usize,
    pub payments: usize,
    pub refunds: usize,
}

/// A payment to notify: its order, amount and time.
struct Pay {
    fan: usize,
    store: usize,
    order: String,
    total_fen: i64,
    at: NaiveDateTime,
    /// The till expected it (a coupon was redeemed with the order).
    expected: bool,
}

pub fn run(
    pool: &DbPool,
    url: &str,
    secrets: &patron_store::SecretBox,
    rt: &tokio::runtime::Runtime,
    shops: &mut [Shop],
    now: NaiveDateTime,
) -> R<Vec<Done>> {
    let redeemer = Redeemer::start(DbPool::connect(url, 1)?, 1, *secrets.mac_key());
    let mut out = Vec::new();
    for (i, shop) in shops.iter_mut().enumerate() {
        out.push(shop_run(pool, &redeemer, rt, shop, i, now)?);
    }
    Ok(out)
}

fn shop_run(
    pool: &DbPool,
    redeemer: &Redeemer,
    rt: &tokio::runtime::Runtime,
    shop: &mut Shop,
    index: usize,
    now: NaiveDateTime,
) -> R<Done> {
    let mut rng = StdRng::seed_from_u64(SEED + 100 + index as u64);
    let mut fixes: Vec<Fix> = Vec::new();
    let mut done = Done::default();
    let mut c = pool.get()?;
    let scope = shop.scope.clone();
    let manager = shop.manager.1.clone();

    // Goodwill coupons, by hand.
    for mi in shop.history.manual.clone() {
        let follower = shop.followers[mi.fan];
        let camp = shop.campaigns[mi.campaign];
        if let Ok(coupon) =
            patron_store::coupons::issue(&mut c, &scope, camp, Some(follower), "manual", &manager)?
        {
            let until = mi.at + TimeDelta::days(shop.m.campaigns[mi.campaign].valid_days);
            shop.coupons.push(Held {
                id: coupon.id,
                code: coupon.code,
                fan: mi.fan,
                campaign: mi.campaign,
                issued_at: mi.at,
                valid_to: until,
                used: false,
            });
        }
    }

    // Each visit: a coupon to redeem (when one is held and the basket allows it), the
    // order's payment.
    let mut asks: Vec<(usize, Ask, NaiveDateTime)> = Vec::new();
    let mut pays: Vec<Pay> = Vec::new();
    for (n, v) in shop.history.visits.iter().enumerate() {
        let local = history::local(shop.tz, v.at);
        let order = format!(
            "{}{}{:05}",
            shop.m.order_prefix,
            local.format("%Y%m%d%H%M%S"),
            n
        );
        // Who came for a coupon buys enough to use it.
        let usable = shop
            .coupons
            .iter()
            .enumerate()
            .filter(|(_, h)| {
                h.fan == v.fan
                    && !h.used
                    && h.issued_at + TimeDelta::minutes(10) < v.at
                    && h.valid_to > v.at
                    && (v.keen || shop.m.campaigns[h.campaign].min_spend_fen <= v.basket_fen)
            })
            .min_by_key(|(_, h)| h.valid_to)
            .map(|(i, _)| i);
        let redeem = usable.filter(|_| rng.gen_bool(if v.keen { 0.92 } else { 0.4 }));
        if redeem.is_none() && !v.wechat_pay {
            continue;
        }
        let basket = match redeem {
            Some(h) => {
                let min = shop.m.campaigns[shop.coupons[h].campaign].min_spend_fen;
                v.basket_fen.max(min + rng.gen_range(0..20) * 100)
            }
            None => v.basket_fen,
        };
        if let Some(h) = redeem {
            shop.coupons[h].used = true;
            let (cashier, name) = shop.cashiers[v.store].clone();
            asks.push((
                h,
                Ask {
                    scope: scope.clone(),
                    ip: format!("10.{}.{}.20", index + 1, v.store + 1),
                    scanned: shop.coupons[h].code.clone(),
                    user_id: Some(cashier),
                    user_name: name,
                    store_id: shop.stores[v.store],
                    device: "Chrome on Android".into(),
                    idempotency_key: Some(format!("till-{order}")),
                    order_ref: Some(order.clone()),
                    amount_fen: Some(basket),
                },
                v.at,
            ));
        }
        pays.push(Pay {
            fan: v.fan,
            store: v.store,
            order,
            total_fen: basket,
            at: v.at + TimeDelta::seconds(rng.gen_range(20..120)),
            expected: redeem.is_some(),
        });
    }

    // The tills' redemptions, through the redemption writers.
    let answers = rt.block_on(async {
        let handles: Vec<_> = asks
            .iter()
            .map(|(_, ask, _)| {
                let (r, ask) = (redeemer.clone(), ask.clone());
                tokio::spawn(async move { r.redeem(ask).await })
            })
            .collect();
        let mut out = Vec::with_capacity(handles.len());
        for h in handles {
            out.push(h.await);
        }
        out
    });
    let mut discounts = std::collections::HashMap::new();
    for ((h, ask, at), answer) in asks.iter().zip(answers) {
        let answer = answer.map_err(|e| fail("till", e))?;
        match answer.map_err(|e| fail("till", e))? {
            Gated::Done(Redeemed::Ok {
                coupon_id,
                discount_fen,
                ..
            }) => {
                let order = ask.order_ref.clone().unwrap_or_default();
                discounts.insert(order.clone(), discount_fen);
                fixes.push(Fix::Redeemed {
                    coupon: coupon_id,
                    order,
                    at: *at,
                });
                done.redeemed += 1;
            }
            other => {
                // Not redeemed after all: the order is paid in full.
                tracing::debug!(
                    coupon = shop.coupons[*h].id,
                    ?other,
                    "demo redemption refused"
                );
                if let Some(p) = pays
                    .iter_mut()
                    .find(|p| Some(&p.order) == ask.order_ref.as_ref())
                {
                    p.expected = false;
                }
            }
        }
    }

    // Payments, refunds and rewards in time order, with each follower's points as they
    // stood then (so a reward is only taken with the points earned by that time).
    let program = patron_store::loyalty::program(&mut c, &scope)?;
    let per_yuan = program.as_ref().map_or(0, |p| p.points_per_yuan);
    let mut ledger: Vec<Vec<(NaiveDateTime, i64)>> = shop.earnings.clone();
    let balance = |ledger: &[Vec<(NaiveDateTime, i64)>], fan: usize, at: NaiveDateTime| -> i64 {
        ledger[fan]
            .iter()
            .filter(|(t, _)| *t <= at)
            .map(|(_, p)| p)
            .sum()
    };
    let mut refunds: Vec<(usize, i64, NaiveDateTime)> = Vec::new();
    for (n, p) in pays.iter().enumerate() {
        let follower = shop.followers[p.fan];
        let openid = shop.history.fans[p.fan].openid.clone();
        let discount = if p.expected {
            discounts.get(&p.order).copied().unwrap_or(0)
        } else {
            0
        };
        let total = (p.total_fen - discount).max(1);
        let transaction = format!("42000{}{:08}", p.at.format("%Y%m%d"), n + index * 1_000_000);
        let key = format!("v3-{}", transaction);
        let success = p.at.and_utc().with_timezone(&shop.tz).to_rfc3339();
        let body = serde_json::json!({
            "mchid": shop.m.mch_id,
            "appid": shop.m.appid,
            "out_trade_no": p.order,
            "transaction_id": transaction,
            "trade_type": "MICROPAY",
            "trade_state": "SUCCESS",
            "bank_type": "OTHERS",
            "success_time": success,
            "payer": {"openid": openid},
            "amount": {"total": total, "payer_total": total, "currency": "CNY"},
        })
        .to_string();
        let paid = patron_app::payments::paid(
            &mut c,
            &scope,
            &key,
            "v3",
            &body,
            &patron_store::payments::Paid {
                out_trade_no: &p.order,
                transaction_id: &transaction,
                openid: Some(&openid),
                total_fen: total,
                payer_fen: total,
                discount_fen: 0,
                trade_type: Some("MICROPAY"),
                bank_type: Some("OTHERS"),
                attach: None,
                paid_at: p.at,
                source: "v3",
            },
        )
        .map_err(|e| fail("payment", e))?;
        if !matches!(paid, Applied::New(_)) {
            tracing::debug!(order = %p.order, ?paid, "demo payment not applied");
            continue;
        }
        done.payments += 1;
        fixes.push(Fix::Paid {
            order: p.order.clone(),
            key,
            at: p.at,
            created: !p.expected,
        });
        let points = patron_app::payments::points_for(per_yuan, total);
        if points > 0 {
            ledger[p.fan].push((p.at, points));
            fixes.push(Fix::Keyed {
                follower,
                key: format!("pay:{}", p.order),
                at: p.at,
            });
        }
        // Now and then a refund, a day or two later.
        if rng.gen_bool(0.015) {
            let at = p.at + TimeDelta::minutes(rng.gen_range(600..4000));
            if at < now - TimeDelta::minutes(5) {
                let amount = if rng.gen_bool(0.6) { total } else { total / 2 };
                refunds.push((n, amount.max(1), at));
                ledger[p.fan].push((at, -patron_app::payments::points_for(per_yuan, amount)));
            }
        }
        // A regular with enough points takes the reward.
        let (cost, reason) = shop.m.reward;
        let fan = &shop.history.fans[p.fan];
        if fan.level != Level::Lurker
            && balance(&ledger, p.fan, p.at) >= cost
            && rng.gen_bool(if fan.level == Level::Regular {
                0.6
            } else {
                0.3
            })
        {
            let (cashier, name) = &shop.cashiers[p.store];
            let posted = patron_app::loyalty::post_points(
                &mut c,
                &scope,
                follower,
                &patron_app::loyalty::PointsRequest {
                    kind: "spend",
                    points: Some(cost),
                    reason,
                    source: "manual",
                    key: None,
                    user: Some((*cashier, name)),
                },
            )
            .map_err(|e| fail("points", e))?;
            if let patron_store::loyalty::Posted::Done { entry_id, .. } = posted {
                let at = p.at + TimeDelta::seconds(30);
                ledger[p.fan].push((at, -cost));
                fixes.push(Fix::Entry { id: entry_id, at });
            }
        }
    }
    for (k, (n, amount, at)) in refunds.into_iter().enumerate() {
        let p = &pays[n];
        let refund_no = format!("RF{}{:04}", p.order, k);
        let refund_id = format!("50300{}{:08}", at.format("%Y%m%d"), k + index * 100_000);
        let key = format!("v3-refund-{refund_id}");
        let body = serde_json::json!({
            "mchid": shop.m.mch_id,
            "out_trade_no": p.order,
            "out_refund_no": refund_no,
            "refund_id": refund_id,
            "refund_status": "SUCCESS",
            "amount": {"refund": amount, "currency": "CNY"},
        })
        .to_string();
        let applied = patron_app::payments::refunded(
            &mut c,
            &scope,
            &key,
            "v3",
            &body,
            &patron_store::payments::Refunded {
                out_trade_no: &p.order,
                out_refund_no: &refund_no,
                refund_id: Some(&refund_id),
                amount_fen: amount,
                status: "SUCCESS",
                succeeded_at: Some(at),
                source: "v3",
            },
        )
        .map_err(|e| fail("refund", e))?;
        if matches!(applied, Applied::New(_)) {
            done.refunds += 1;
            fixes.push(Fix::Refunded {
                order: p.order.clone(),
                refund: refund_no.clone(),
                key,
                at,
            });
            fixes.push(Fix::Keyed {
                follower: shop.followers[p.fan],
                key: format!("refund:{refund_no}"),
                at,
            });
        }
    }

    // Broadcasts: those sent from WeChat's console, recorded so the quota counts them.
    let today = history::local(shop.tz, now).date();
    for (days_ago, note) in shop.m.console_sends {
        let day = today - TimeDelta::days(i64::from(*days_ago));
        if day < shop.history.first_day {
            continue;
        }
        let local = day.and_hms_opt(12, 0, 0).unwrap_or_default();
        let at = history::utc(shop.tz, local);
        match patron_app::broadcasts::record_external(
            &mut c,
            &scope,
            &shop.tenant,
            local,
            note,
            &manager,
        )
        .map_err(|e| fail("broadcast", e))?
        {
            Ok(id) => fixes.push(Fix::Slot { id, at }),
            Err(full) => tracing::debug!(?full, "demo console send not recorded"),
        }
    }
    // One drafted in Patron, scheduled a few minutes from now: the server sends it.
    if let Some((title, text)) = shop.m.upcoming {
        let draft = patron_app::broadcasts::Draft {
            title: title.into(),
            message: patron_domain::broadcasts::Message::Text { text: text.into() },
            audience: patron_domain::broadcasts::Audience::All,
            email: false,
        };
        let b = patron_app::broadcasts::create(&mut c, &scope, &shop.tenant, &draft, &manager)
            .map_err(|e| fail("broadcast", e))?;
        let when = history::local(shop.tz, now + TimeDelta::minutes(5));
        let when = when
            .with_second(0)
            .and_then(|w| w.with_nanosecond(0))
            .unwrap_or(when);
        let scheduled = patron_app::broadcasts::schedule(
            &mut c,
            &scope,
            &shop.tenant,
            b.id,
            patron_app::broadcasts::When::At(when),
            patron_store::now(),
            &manager,
        )
        .map_err(|e| fail("broadcast", e))?;
        tracing::debug!(?scheduled, "demo broadcast scheduled");
    }

    // The spike's campaign ends with its week.
    if let (Some(k), Some((_, last))) = (shop.spike_campaign, shop.history.spike) {
        if last < today {
            patron_store::coupons::set_status(&mut c, &scope, shop.campaigns[k], "ended")?;
        }
    }
    // Followers open their own page (the link in the replies) to see their coupons: once,
    // after their last coupon came and before they first redeemed one, so every coupon
    // is opened after its issue and before its redemption.
    let redeemed_at: std::collections::HashMap<i64, NaiveDateTime> = fixes
        .iter()
        .filter_map(|f| match f {
            Fix::Redeemed { coupon, at, .. } => Some((*coupon, *at)),
            _ => None,
        })
        .collect();
    let mut by_fan: std::collections::BTreeMap<usize, (NaiveDateTime, Option<NaiveDateTime>)> =
        std::collections::BTreeMap::new();
    for h in &shop.coupons {
        let e = by_fan.entry(h.fan).or_insert((h.issued_at, None));
        e.0 = e.0.max(h.issued_at);
        if let Some(r) = redeemed_at.get(&h.id) {
            e.1 = Some(e.1.map_or(*r, |x: NaiveDateTime| x.min(*r)));
        }
    }
    for (fan, (last_issue, first_redeem)) in by_fan {
        let p = if first_redeem.is_some() { 0.9 } else { 0.55 };
        if !rng.gen_bool(p) {
            continue;
        }
        let room = first_redeem.unwrap_or(now) - last_issue;
        if room < TimeDelta::minutes(4) {
            continue;
        }
        let most = (room.num_seconds() / 2).min(5_400);
        let at = last_issue + TimeDelta::seconds(rng.gen_range(120..=most.max(121)));
        patron_store::coupons::mark_opened(&mut c, &scope, shop.followers[fan], at)?;
    }

    // Every coupon moves back to when it was issued, now that the tills are done.
    for h in &shop.coupons {
        fixes.push(Fix::Issued {
            id: h.id,
            at: h.issued_at,
            until: h.valid_to,
        });
    }
    apply(&mut c, shop.scope.tenant_id().0, &fixes)?;
    Ok(done)
}

fn apply(c: &mut DbConn, tenant: i64, fixes: &[Fix]) -> R<()> {
    write_tx(c, |c| -> R<()> {
        for fix in fixes {
            match fix {
                Fix::Issued { id, at, until } => {
                    diesel::update(cp::table.find(id))
                        .set((
                            cp::issued_at.eq(at),
                            cp::valid_from.eq(at),
                            cp::valid_to.eq(until),
                        ))
                        .execute(c)?;
                }
                Fix::Redeemed { coupon, order, at } => {
                    diesel::update(cp::table.find(coupon))
                        .set(cp::redeemed_at.eq(Some(*at)))
                        .execute(c)?;
                    let events: Vec<(i64, String)> = ev::table
                        .filter(ev::coupon_id.eq(coupon))
                        .filter(ev::action.eq("redeem"))
                        .select((ev::id, ev::result))
                        .load(c)?;
                    for (id, result) in events {
                        // The answer a retried tap would get names the time too.
                        let result = match serde_json::from_str::<serde_json::Value>(&result) {
                            Ok(mut v) => {
                                v["at"] = serde_json::to_value(at).unwrap_or_default();
                                v.to_string()
                            }
                            Err(_) => result,
                        };
                        diesel::update(ev::table.find(id))
                            .set((ev::at.eq(at), ev::result.eq(result)))
                            .execute(c)?;
                    }
                    diesel::update(
                        pay::table
                            .filter(pay::tenant_id.eq(tenant))
                            .filter(pay::out_trade_no.eq(order)),
                    )
                    .set((pay::created_at.eq(at), pay::updated_at.eq(at)))
                    .execute(c)?;
                }
                Fix::Paid {
                    order,
                    key,
                    at,
                    created,
                } => {
                    let row = pay::table
                        .filter(pay::tenant_id.eq(tenant))
                        .filter(pay::out_trade_no.eq(order));
                    if *created {
                        diesel::update(row)
                            .set((pay::created_at.eq(at), pay::updated_at.eq(at)))
                            .execute(c)?;
                    } else {
                        diesel::update(row).set(pay::updated_at.eq(at)).execute(c)?;
                    }
                    diesel::update(
                        pn::table
                            .filter(pn::tenant_id.eq(tenant))
                            .filter(pn::notify_key.eq(key)),
                    )
                    .set(pn::received_at.eq(*at + TimeDelta::seconds(2)))
                    .execute(c)?;
                }
                Fix::Refunded {
                    order,
                    refund,
                    key,
                    at,
                } => {
                    diesel::update(
                        rf::table
                            .filter(rf::tenant_id.eq(tenant))
                            .filter(rf::out_refund_no.eq(refund)),
                    )
                    .set((rf::created_at.eq(at), rf::updated_at.eq(at)))
                    .execute(c)?;
                    diesel::update(
                        pay::table
                            .filter(pay::tenant_id.eq(tenant))
                            .filter(pay::out_trade_no.eq(order)),
                    )
                    .set(pay::updated_at.eq(at))
                    .execute(c)?;
                    diesel::update(
                        pn::table
                            .filter(pn::tenant_id.eq(tenant))
                            .filter(pn::notify_key.eq(key)),
                    )
                    .set(pn::received_at.eq(*at + TimeDelta::seconds(2)))
                    .execute(c)?;
                }
                Fix::Entry { id, at } => {
                    diesel::update(pl::table.find(id))
                        .set(pl::at.eq(at))
                        .execute(c)?;
                }
                Fix::Keyed { follower, key, at } => {
                    let entry = pl::table
                        .filter(pl::tenant_id.eq(tenant))
                        .filter(pl::follower_id.eq(follower))
                        .filter(pl::source_key.eq(key));
                    // Earned points expire a year after they were earned.
                    diesel::update(entry.filter(pl::expires_at.is_not_null()))
                        .set(pl::expires_at.eq(Some(*at + TimeDelta::days(365))))
                        .execute(c)?;
                    diesel::update(entry).set(pl::at.eq(at)).execute(c)?;
                }
                Fix::Slot { id, at } => {
                    diesel::update(bs::table.find(id))
                        .set(bs::created_at.eq(at))
                        .execute(c)?;
                }
            }
        }
        Ok(())
    })
}
