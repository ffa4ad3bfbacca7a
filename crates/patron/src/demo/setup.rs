//! The demo's accounts, as an agency admin and the merchants would set them up through
//! the pages: the agency and its admin, each merchant account (its WeChat settings
//! pointed at the simulator), stores, staff, the points program, tags, campaigns,
//! parametric QR codes (created through WeChat's API, here the simulator's), reply rules,
//! the custom menu (published the same way) and the WeChat Pay merchant settings.

use super::history::{self, History};
use super::world::{self, Gives, Match, Merchant};
use super::{fail, Shop, R};
use chrono::{NaiveDateTime, TimeDelta};
use chrono_tz::Tz;
use patron_app::replies::NewRule;
use patron_domain::coupons::{Benefit, Validity};
use patron_domain::loyalty::Program;
use patron_domain::replies::{Content, Trigger, Window};
use patron_domain::{AgencyId, AgencyScope, Role, StoreId, TenantScope};
use patron_store::tenants::{self, TenantInput};
use patron_store::{coupons, loyalty, stores, tags, users, DbPool, SecretBox};
use patron_wechat::api::menu::{ActionButton, ButtonAction, Menu, MenuButton};
use rand::Rng;

/// What the accounts' setup needs.
pub struct Setup<'a> {
    pub pool: &'a DbPool,
    pub secrets: &'a SecretBox,
    pub rt: &'a tokio::runtime::Runtime,
    /// The simulator standing in for WeChat's API.
    pub sim: &'a patron_simulator::Simulator,
    /// Every demo user's password hash (one password for the demo).
    pub password_hash: &'a str,
    pub now: NaiveDateTime,
    pub days: u32,
}

/// Creates the agency, its admin and every merchant account with what it owns.
pub fn accounts(x: &Setup<'_>) -> R<Vec<Shop>> {
    let mut c = x.pool.get()?;
    let agency = tenants::create_agency(&mut c, world::AGENCY)?;
    let admin = users::create(
        &mut c,
        world::ADMIN_EMAIL,
        world::ADMIN_NAME,
        x.password_hash,
        None,
    )?;
    users::add_membership(
        &mut c,
        admin.id(),
        AgencyId(agency.id),
        None,
        Role::AgencyAdmin,
        &[],
    )?;
    drop(c);
    let mut shops = Vec::new();
    for (i, m) in world::merchants().into_iter().enumerate() {
        shops.push(merchant(x, AgencyId(agency.id), i, m)?);
    }
    Ok(shops)
}

/// Letters and digits from the OS RNG (the account's secrets are real secrets).
fn random(n: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rngs::OsRng;
    (0..n)
        .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
        .collect()
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn merchant(x: &Setup<'_>, agency: AgencyId, index: usize, m: Merchant) -> R<Shop> {
    let tz: Tz = patron_domain::validate::stored_time_zone("Asia/Shanghai");
    let input = TenantInput {
        name: m.name.into(),
        slug: m.slug.into(),
        time_zone: "Asia/Shanghai".into(),
        wx_appid: m.appid.into(),
        wx_original_id: m.original_id.into(),
        wx_token: patron_domain::wechat_settings::generate_token(&mut rand::rngs::OsRng),
        wx_aes_key: random(43, ALNUM),
        wx_app_secret: random(32, b"0123456789abcdef"),
        wx_message_mode: "safe".into(),
        wx_account_kind: m.account_kind.into(),
        wx_api_base: x.sim.base_url(),
    };
    // The account on WeChat's side (the simulator's) with the same AppID and AppSecret.
    x.sim
        .add_account(m.appid, &input.wx_app_secret)
        .set_original_id(m.original_id);
    let valid = tenants::validate(&input).map_err(|e| fail(m.slug, format!("{e:?}")))?;
    patron_app::tenants::check_api_base(true, None, None, &valid)
        .map_err(|e| fail(m.slug, format!("{e:?}")))?;
    let mut c = x.pool.get()?;
    let tenant = tenants::create(&mut c, &AgencyScope::system(agency), &valid, x.secrets)?;
    let scope = TenantScope::system(tenant.tenant_ref());
    let history: History = history::make(&m, index, x.days, x.now, tz);
    let setup_at = history::utc(
        tz,
        (history.first_day - TimeDelta::days(14))
            .and_hms_opt(10, 30, 0)
            .unwrap_or_default(),
    );
    let spike_setup_at = history.spike.map(|(a, _)| {
        history::utc(
            tz,
            (a - TimeDelta::days(3))
                .and_hms_opt(15, 0, 0)
                .unwrap_or_default(),
        )
    });

    // Stores, their tags (a follow through a store's code tags the follower) and staff.
    let mut store_ids = Vec::new();
    let mut store_tags = Vec::new();
    let mut cashiers = Vec::new();
    for s in &m.stores {
        let store = stores::create(&mut c, &scope, s.name, s.address)?;
        store_ids.push(store.id);
        store_tags.push(tags::create(&mut c, &scope, s.name)?.id);
        let u = users::create(
            &mut c,
            s.cashier_email,
            s.cashier_name,
            x.password_hash,
            None,
        )?;
        users::add_membership(
            &mut c,
            u.id(),
            agency,
            Some(scope.tenant_id()),
            Role::Cashier,
            &[StoreId(store.id)],
        )?;
        cashiers.push((u.id, s.cashier_name.to_string()));
    }
    let manager = users::create(&mut c, m.manager.0, m.manager.1, x.password_hash, None)?;
    users::add_membership(
        &mut c,
        manager.id(),
        agency,
        Some(scope.tenant_id()),
        Role::MerchantAdmin,
        &[],
    )?;

    // The points program: points for following, a daily check-in word, points per yuan.
    loyalty::save_program(
        &mut c,
        &scope,
        &Program {
            subscribe_points: m.subscribe_points,
            checkin_keyword: m.checkin_word.into(),
            checkin_points: m.checkin_points,
            checkin_reply: "签到成功 +{points} 积分，当前共 {balance} 分 ✅ Checked in: +{points} points, {balance} in all.".into(),
            checkin_again_reply: "今天已经签到过啦，明天再来～ Already checked in today.".into(),
            points_per_yuan: m.points_per_yuan,
            expiry_days: Some(365),
        },
    )?;

    // Campaigns, active from the start (the spike's ends after its week).
    let mut campaigns = Vec::new();
    for k in &m.campaigns {
        let benefit = match k.gives {
            Gives::AmountOff(fen) => Benefit::AmountOff { fen },
            Gives::PercentOff(percent, cap_fen) => Benefit::PercentOff { percent, cap_fen },
            Gives::Gift(item) => Benefit::Gift { item: item.into() },
        };
        let camp = coupons::create(
            &mut c,
            &scope,
            &coupons::CampaignInput {
                name: k.name.into(),
                benefit,
                min_spend_fen: k.min_spend_fen,
                validity: Validity::Relative { days: k.valid_days },
                total_supply: None,
                // Rules and QR codes give each follower one; the manager gives at will.
                per_follower_limit: (!k.manual).then_some(1),
                stores: None,
                terms: k.terms.into(),
                code_prefix: k.code_prefix.into(),
                accepts_short_codes: false,
            },
        )?;
        coupons::set_status(&mut c, &scope, camp.id, "active")?;
        campaigns.push(camp.id);
    }
    let spike_campaign = m.campaigns.iter().position(|k| k.spike);

    // Pay settings: the merchant's WeChat Pay account (its notifications are applied
    // through `patron_app::payments`).
    patron_app::payments::save_settings(
        &mut c,
        &scope,
        x.secrets,
        &patron_store::payments::PayInput {
            mch_id: m.mch_id.into(),
            apiv2_key: Some(random(32, ALNUM)),
            apiv3_key: Some(random(32, ALNUM)),
            platform_keys: None,
            merchant_serial: None,
            merchant_key: None,
        },
    )
    .map_err(|e| fail("pay settings", e))?;
    drop(c);

    // Parametric QR codes through WeChat's API: each store's table sticker, the posters.
    let mut codes: Vec<(&str, String, Option<i64>)> = m
        .stores
        .iter()
        .zip(&store_tags)
        .map(|(s, t)| (s.scene, format!("{} 桌贴 Table sticker", s.name), Some(*t)))
        .collect();
    let spike_tag = match m.posters.iter().any(|p| p.spike) {
        true => Some(tags::create(&mut *x.pool.get()?, &scope, "周年庆粉丝 Anniversary")?.id),
        false => None,
    };
    for p in &m.posters {
        codes.push((
            p.scene,
            p.label.into(),
            if p.spike { spike_tag } else { None },
        ));
    }
    for (scene, label, tag_id) in codes {
        let made = x.rt.block_on(patron_app::wechat::create_qr_code(
            x.pool,
            x.secrets,
            &scope,
            &tenant,
            patron_app::wechat::NewCode {
                scene: scene.into(),
                label,
                permanent: true,
                days: 0,
                tag_id,
            },
        ));
        let code = made.map_err(|e| fail(&format!("QR code {scene}"), format!("{e:?}")))?;
        if m.posters.iter().any(|p| p.spike && p.scene == scene) {
            let camp = spike_campaign.map(|i| campaigns[i]);
            patron_store::qr_codes::set_campaign(&mut *x.pool.get()?, &scope, code.id, camp)?;
        }
    }

    // Reply rules, as the replies page makes them.
    let text = |t: &str| vec![Content::Text { text: t.into() }];
    let mut c = x.pool.get()?;
    let mut rule = |trigger: Trigger,
                    messages: Vec<Content>,
                    priority: i64,
                    window: Option<Window>,
                    campaign: Option<i64>|
     -> R<()> {
        patron_app::replies::create_rule(
            &mut c,
            &scope,
            &NewRule {
                trigger: &trigger,
                messages: &messages,
                priority,
                window: window.as_ref(),
                campaign,
            },
        )
        .map_err(|e| fail("reply rule", e))?;
        Ok(())
    };
    rule(
        Trigger::Subscribe(None),
        text(m.welcome),
        0,
        None,
        m.welcome_campaign.map(|i| campaigns[i]),
    )?;
    if let (Some(p), Some(spike)) = (m.posters.iter().find(|p| p.spike), history.spike) {
        rule(
            Trigger::Subscribe(Some(p.scene.into())),
            text("三周年快乐 🎉 买一送一券已放进您的卡包，7 天内到任一门店使用：{link} Happy anniversary: your buy-one-get-one coupon is waiting."),
            10,
            Some(Window {
                days: Window::ALL_DAYS,
                start: 0,
                end: 0,
                from: Some(spike.0),
                to: Some(spike.1),
            }),
            None,
        )?;
    }
    for k in &m.keywords {
        let words: Vec<&str> = std::iter::once(k.word)
            .chain(k.also.iter().copied())
            .collect();
        let trigger = match (k.matching, words.len()) {
            (Match::Exact, 1) => Trigger::KeywordExact(k.word.into()),
            (Match::Contains, 1) => Trigger::KeywordContains(k.word.into()),
            (Match::Exact, _) => {
                Trigger::parse("keyword_regex", &format!("^({})$", words.join("|")))
                    .map_err(|e| fail("keyword", format!("{e:?}")))?
            }
            (Match::Contains, _) => Trigger::parse("keyword_regex", &words.join("|"))
                .map_err(|e| fail("keyword", format!("{e:?}")))?,
        };
        let window = match (k.spike_only, history.spike) {
            (true, Some((a, b))) => Some(Window {
                days: Window::ALL_DAYS,
                start: 0,
                end: 0,
                from: Some(a),
                to: Some(b),
            }),
            (true, None) => continue,
            _ => None,
        };
        rule(
            trigger,
            text(k.reply),
            5,
            window,
            k.campaign.map(|i| campaigns[i]),
        )?;
    }
    for k in &m.clicks {
        rule(Trigger::Click(k.key.into()), text(k.reply), 5, None, None)?;
    }
    rule(Trigger::Default, text(m.default_reply), 0, None, None)?;
    drop(c);

    // The custom menu, published through WeChat's API.
    let mut buttons: Vec<ActionButton> = m
        .clicks
        .iter()
        .map(|k| ActionButton {
            name: k.label.into(),
            action: ButtonAction::Click { key: k.key.into() },
        })
        .collect();
    buttons.push(ActionButton {
        name: m.view.0.into(),
        action: ButtonAction::View {
            url: m.view.1.into(),
        },
    });
    let menu = Menu {
        button: if buttons.len() <= 3 {
            buttons.into_iter().map(MenuButton::Action).collect()
        } else {
            let rest = buttons.split_off(2);
            let mut top: Vec<MenuButton> = buttons.into_iter().map(MenuButton::Action).collect();
            top.push(MenuButton::SubMenu {
                name: "更多 More".into(),
                sub_button: rest,
            });
            top
        },
    };
    x.rt.block_on(patron_app::wechat::save_menu(
        x.pool, x.secrets, &scope, &tenant, &menu, true,
    ))
    .map_err(|e| fail("menu", e))?;

    Ok(Shop {
        scope,
        tenant,
        tz,
        stores: store_ids,
        cashiers,
        manager: (manager.id, m.manager.1.to_string()),
        campaigns,
        spike_campaign,
        history,
        setup_at,
        spike_setup_at,
        followers: Vec::new(),
        coupons: Vec::new(),
        earnings: Vec::new(),
        m,
    })
}
