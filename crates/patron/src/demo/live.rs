//! The simulator standing in for WeChat while the demo serves: one simulated Official
//! Account per merchant account (its AppID and AppSecret, its followers with their
//! follow times, its QR codes), each tenant's API base pointed at it (so broadcasts,
//! customer-service messages, QR codes, the menu and follower syncs go there) and each
//! account pushing to the tenant's webhook (so a follow or a message typed into the
//! demo's terminal is answered by the auto-replies, and WeChat's reports of mass sends
//! come back).

use super::{fail, world, R};
use chrono::TimeDelta;
use diesel::prelude::*;
use patron_domain::TenantScope;
use patron_simulator::{Account, Follower, Interaction, PushMode, Simulator, Webhook};
use patron_store::schema::followers as f;
use patron_store::tenants::{self, TenantInput};
use patron_store::{DbPool, SecretBox};
use patron_wechat::api::qrcode::{QrCodeRequest, Scene};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::time::{Duration, Instant};

/// A merchant account as the simulator serves it.
pub struct Live {
    pub slug: String,
    pub name: String,
    pub appid: String,
    pub aes_key: String,
    pub openid_prefix: String,
    pub account: Account,
    /// Scene → the simulator's ticket for it.
    pub tickets: BTreeMap<String, String>,
    pub followers: usize,
}

/// Registers every demo account with the simulator and points the tenants at it.
pub fn connect(
    pool: &DbPool,
    secrets: &SecretBox,
    sim: &Simulator,
    rt: &tokio::runtime::Runtime,
    base_url: &str,
) -> R<Vec<Live>> {
    let mut out = Vec::new();
    let now = patron_store::now();
    for m in world::merchants() {
        let mut c = pool.get()?;
        let Some(tref) = tenants::find_ref_by_slug(&mut c, m.slug)? else {
            continue;
        };
        let scope = TenantScope::system(tref);
        let mut t = tenants::get(&mut c, &scope)?;
        let wx = t.wechat_secrets(secrets)?;
        let (Some(appid), Some(secret), Some(token), Some(aes)) = (
            t.wx_appid.clone(),
            wx.app_secret.clone(),
            wx.token.clone(),
            wx.aes_key.clone(),
        ) else {
            continue;
        };
        let account = match sim.account(&appid) {
            Some(a) => a,
            None => sim.add_account(&appid, &secret),
        };
        if let Some(gh) = &t.wx_original_id {
            account.set_original_id(gh);
        }
        // The API base is this run's simulator (the AppSecret given again, as a new base
        // clears it otherwise).
        if t.wx_api_base != sim.base_url() {
            let input = TenantInput {
                name: t.name.clone(),
                slug: t.slug.clone(),
                time_zone: t.time_zone.clone(),
                wx_appid: appid.clone(),
                wx_original_id: t.wx_original_id.clone().unwrap_or_default(),
                wx_token: String::new(),
                wx_aes_key: String::new(),
                wx_app_secret: secret.clone(),
                wx_message_mode: t.wx_message_mode.clone(),
                wx_account_kind: t.wx_account_kind.clone(),
                wx_api_base: sim.base_url(),
            };
            t = patron_app::tenants::update_settings(&mut c, &scope, &input, secrets, true)
                .map_err(|e| fail("API base", e))?;
        }
        // Its followers, as WeChat knows them.
        type Row = (
            String,
            bool,
            Option<chrono::NaiveDateTime>,
            Option<String>,
            Option<String>,
            Option<chrono::NaiveDateTime>,
        );
        let rows: Vec<Row> = f::table
            .filter(f::tenant_id.eq(scope.tenant_id().0))
            .select((
                f::openid,
                f::subscribed,
                f::subscribed_at,
                f::subscribe_scene,
                f::qr_scene,
                f::last_interaction_at,
            ))
            .load(&mut *c)?;
        let mut followers = 0;
        for (openid, subscribed, at, scene, qr, last) in rows {
            if account.follower(&openid).is_some() {
                continue;
            }
            let mut fw = Follower::new(openid.clone());
            fw.subscribed = subscribed;
            fw.subscribe_time = at.map_or(0, |a| a.and_utc().timestamp());
            fw.subscribe_scene = scene.unwrap_or_else(|| "ADD_SCENE_SEARCH".into());
            fw.qr_scene_str = qr.unwrap_or_default();
            account.add_follower(fw);
            followers += usize::from(subscribed);
            // Who wrote in the last two days can be sent customer-service messages.
            if subscribed && last.is_some_and(|l| l > now - TimeDelta::hours(47)) {
                account.record_interaction(&openid, Interaction::Message);
            }
        }
        // Its QR codes: the simulator knows those made through it; a later run asks it
        // for the same scenes again.
        let codes = patron_store::qr_codes::list(&mut c, &scope)?;
        drop(c);
        let mut tickets = BTreeMap::new();
        let client = patron_app::wechat::tenant_client(pool, secrets, &t)
            .map_err(|e| fail("WeChat client", format!("{e:?}")))?;
        for q in codes {
            let ticket = if account.qrcode(&q.ticket).is_some() {
                q.ticket.clone()
            } else {
                let request = QrCodeRequest::permanent(Scene::Str(q.scene.clone()));
                rt.block_on(client.create_qrcode(&request))
                    .map_err(|e| fail("QR code", e))?
                    .ticket
            };
            tickets.insert(q.scene, ticket);
        }
        account.set_webhook(Webhook {
            url: format!("{base_url}{}", patron_app::links::webhook_path(&t.slug)),
            token,
            encoding_aes_key: aes.clone(),
            mode: PushMode::Safe,
        });
        out.push(Live {
            slug: t.slug.clone(),
            name: t.name.clone(),
            appid,
            aes_key: aes,
            openid_prefix: m.openid_prefix.into(),
            account,
            tickets,
            followers,
        });
    }
    Ok(out)
}

pub const HELP: &str = "\
Act as WeChat users here (one command a line):
  follow                a new user follows the current account
  follow SCENE          … through one of its QR codes (attributed, tagged, maybe a coupon)
  say TEXT              the current follower writes TEXT; the auto-reply is shown
  scan SCENE            the current follower scans a QR code
  unfollow              the current follower unfollows
  use SLUG              switch account (dawn-coffee, wheat-bakery, old-street-noodles)
  who                   the current account, follower and QR scenes
  help                  this list";

/// Reads commands from standard input until it closes, acting as WeChat users.
pub fn shell(accounts: Vec<Live>) {
    if accounts.is_empty() {
        return;
    }
    let mut current = 0;
    let mut openid: Option<String> = None;
    let mut made = 0u32;
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let line = line.trim();
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        let rest = rest.trim();
        let a = &accounts[current];
        let push = match verb {
            "" => continue,
            "help" | "?" => {
                println!("{HELP}");
                continue;
            }
            "use" => {
                match accounts
                    .iter()
                    .position(|x| x.slug.starts_with(rest) && !rest.is_empty())
                {
                    Some(i) => {
                        current = i;
                        openid = None;
                        println!(
                            "now {} ({}); `follow` to become one of its followers",
                            accounts[i].name, accounts[i].slug
                        );
                    }
                    None => println!("no account {rest:?}"),
                }
                continue;
            }
            "who" => {
                println!(
                    "account {} ({}), follower {}; QR scenes: {}",
                    a.name,
                    a.slug,
                    openid.as_deref().unwrap_or("none yet (`follow`)"),
                    a.tickets.keys().cloned().collect::<Vec<_>>().join(", ")
                );
                continue;
            }
            "follow" => {
                made += 1;
                let id = format!("{}Live{:04}{}", a.openid_prefix, made, std::process::id());
                let id: String = format!("{id:_<28}").chars().take(28).collect();
                let pushed = if rest.is_empty() {
                    a.account.push_subscribe(&id)
                } else {
                    match a.tickets.get(rest) {
                        Some(ticket) => a.account.push_scan(&id, ticket),
                        None => {
                            println!("no QR code {rest:?}; `who` lists them");
                            continue;
                        }
                    }
                };
                println!("{id} follows {}", a.name);
                openid = Some(id);
                pushed
            }
            "say" | "scan" | "unfollow" => {
                let Some(id) = openid.clone() else {
                    println!("nobody yet: `follow` first");
                    continue;
                };
                match verb {
                    "say" if rest.is_empty() => {
                        println!("say what?");
                        continue;
                    }
                    "say" => a.account.push_text(&id, rest),
                    "scan" => match a.tickets.get(rest) {
                        Some(ticket) => a.account.push_scan(&id, ticket),
                        None => {
                            println!("no QR code {rest:?}; `who` lists them");
                            continue;
                        }
                    },
                    _ => {
                        openid = None;
                        a.account.push_unsubscribe(&id)
                    }
                }
            }
            other => {
                println!("unknown command {other:?}; `help` lists them");
                continue;
            }
        };
        if let Some(id) = push {
            println!("  ↩ {}", reply_of(a, id));
        }
    }
}

/// Waits for the push's delivery and reads the passive reply Patron answered with.
fn reply_of(a: &Live, push: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let done = a
            .account
            .push_deliveries()
            .into_iter()
            .find(|d| d.push_id == push && (d.status.is_some() || d.error.is_some()));
        match done {
            Some(d) => {
                return match (d.status, d.response) {
                    (Some(200), Some(body)) => read_reply(a, &body),
                    (Some(status), body) => format!(
                        "HTTP {status} {}",
                        body.unwrap_or_default()
                            .chars()
                            .take(80)
                            .collect::<String>()
                    ),
                    (None, _) => d.error.unwrap_or_else(|| "no answer".into()),
                }
            }
            None if Instant::now() > deadline => return "(no answer yet)".into(),
            None => std::thread::sleep(Duration::from_millis(40)),
        }
    }
}

/// The text of a reply (decrypted in safe mode), or what kind it is.
fn read_reply(a: &Live, body: &str) -> String {
    if body.trim() == "success" || body.trim().is_empty() {
        return "(no reply)".into();
    }
    let plain = match patron_wechat::xml::parse_envelope(body.as_bytes())
        .ok()
        .and_then(|e| e.encrypt)
    {
        Some(enc) => {
            let key = patron_wechat::AesKey::from_encoding_aes_key(&a.aes_key);
            match key.and_then(|k| patron_wechat::crypto::decrypt(&k, &a.appid, &enc)) {
                Ok(p) => String::from_utf8_lossy(&p).into_owned(),
                Err(e) => return format!("(a reply that does not decrypt: {e})"),
            }
        }
        None => body.to_string(),
    };
    cdata_of(&plain, "Content")
        .or_else(|| cdata_of(&plain, "Title"))
        .unwrap_or(plain)
}

fn cdata_of(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}><![CDATA[");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find("]]>")? + start;
    Some(xml[start..end].to_string())
}
