//! The custom menu editor: 3 buttons, each an action or a sub-menu of up to 5 actions
//! (click, link, mini-program), saved as edited and published through the menu API.

use crate::ctx::Ctx;
use crate::error::UiError;
use crate::paths;
use crate::render::{html, redirect_flash, Page};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use patron_app::wechat::MenuSaved;
use patron_domain::Permission;
use patron_store::menus;
use patron_wechat::api::menu::{
    ActionButton, ButtonAction, Menu, MenuButton, MAX_BUTTONS, MAX_SUB_BUTTONS,
};

/// One action in the form: its name, kind (`click`, `view`, `miniprogram`, or empty) and
/// values.
#[derive(Debug, Clone, Default)]
pub struct ActionForm {
    pub name: String,
    pub kind: String,
    /// The click key, or the link.
    pub value: String,
    pub appid: String,
    pub pagepath: String,
}

#[derive(Debug, Clone, Default)]
pub struct ButtonForm {
    pub top: ActionForm,
    pub subs: Vec<ActionForm>,
}

impl ActionForm {
    fn from_action(b: &ActionButton) -> ActionForm {
        let mut f = ActionForm {
            name: b.name.clone(),
            ..Default::default()
        };
        match &b.action {
            ButtonAction::Click { key } => (f.kind, f.value) = ("click".into(), key.clone()),
            ButtonAction::View { url } => (f.kind, f.value) = ("view".into(), url.clone()),
            ButtonAction::Miniprogram {
                url,
                appid,
                pagepath,
            } => {
                (f.kind, f.value) = ("miniprogram".into(), url.clone());
                f.appid = appid.clone();
                f.pagepath = pagepath.clone();
            }
            _ => {}
        }
        f
    }

    fn is_empty(&self) -> bool {
        self.name.trim().is_empty() && self.value.trim().is_empty()
    }

    fn to_action(&self) -> Result<ActionButton, String> {
        let name = self.name.trim().to_string();
        let value = self.value.trim().to_string();
        let url_ok = value.starts_with("https://") || value.starts_with("http://");
        Ok(ActionButton {
            action: match self.kind.as_str() {
                "click" if !value.is_empty() && value.len() <= 128 => {
                    ButtonAction::Click { key: value }
                }
                "view" if url_ok => ButtonAction::View { url: value },
                "miniprogram"
                    if url_ok
                        && !self.appid.trim().is_empty()
                        && !self.pagepath.trim().is_empty() =>
                {
                    ButtonAction::Miniprogram {
                        url: value,
                        appid: self.appid.trim().to_string(),
                        pagepath: self.pagepath.trim().to_string(),
                    }
                }
                _ => return Err(format!("menu.bad_action|{name}")),
            },
            name,
        })
    }
}

fn slots() -> Vec<ButtonForm> {
    (0..MAX_BUTTONS)
        .map(|_| ButtonForm {
            top: ActionForm::default(),
            subs: vec![ActionForm::default(); MAX_SUB_BUTTONS],
        })
        .collect()
}

/// The editor's slots filled from a menu.
pub fn to_form(menu: &Menu) -> Vec<ButtonForm> {
    let mut out = slots();
    for (i, b) in menu.button.iter().take(MAX_BUTTONS).enumerate() {
        match b {
            MenuButton::Action(a) => out[i].top = ActionForm::from_action(a),
            MenuButton::SubMenu { name, sub_button } => {
                out[i].top.name = name.clone();
                for (j, s) in sub_button.iter().take(MAX_SUB_BUTTONS).enumerate() {
                    out[i].subs[j] = ActionForm::from_action(s);
                }
            }
        }
    }
    out
}

/// Reads the form (`b{i}_name`, `b{i}_kind`, …, `b{i}_s{j}_name`, …) into slots.
fn parse_form(body: &[u8]) -> (String, bool, Vec<ButtonForm>) {
    let mut csrf = String::new();
    let mut publish = false;
    let mut out = slots();
    for (k, v) in crate::forms::form_pairs(body) {
        if k == "csrf" {
            csrf = v;
            continue;
        }
        if k == "publish" {
            publish = true;
            continue;
        }
        let Some(rest) = k.strip_prefix('b') else {
            continue;
        };
        let Some((i, field)) = rest.split_once('_') else {
            continue;
        };
        let Ok(i) = i.parse::<usize>() else { continue };
        let Some(slot) = out.get_mut(i) else { continue };
        let (target, field) = match field.strip_prefix('s').and_then(|r| r.split_once('_')) {
            Some((j, f)) => match j.parse::<usize>().ok().and_then(|j| slot.subs.get_mut(j)) {
                Some(s) => (s, f),
                None => continue,
            },
            None => (&mut slot.top, field),
        };
        match field {
            "name" => target.name = v,
            "kind" => target.kind = v,
            "value" => target.value = v,
            "appid" => target.appid = v,
            "pagepath" => target.pagepath = v,
            _ => {}
        }
    }
    (csrf, publish, out)
}

/// The menu the slots describe, checked against WeChat's limits.
pub fn to_menu(form: &[ButtonForm]) -> Result<Menu, String> {
    let mut button = Vec::new();
    for b in form {
        let subs: Vec<&ActionForm> = b.subs.iter().filter(|s| !s.is_empty()).collect();
        if subs.is_empty() {
            if b.top.is_empty() {
                continue;
            }
            button.push(MenuButton::Action(b.top.to_action()?));
        } else {
            button.push(MenuButton::SubMenu {
                name: b.top.name.trim().to_string(),
                sub_button: subs
                    .into_iter()
                    .map(ActionForm::to_action)
                    .collect::<Result<_, _>>()?,
            });
        }
    }
    let menu = Menu { button };
    menu.validate().map_err(|e| format!("menu.invalid|{e}"))?;
    Ok(menu)
}

#[derive(Template)]
#[template(path = "menu.html")]
struct MenuPage {
    /// Click keys of the menu that no enabled reply rule answers.
    unanswered: Vec<String>,
    page: Page,
    slug: String,
    tz: String,
    buttons: Vec<ButtonForm>,
    row: Option<menus::MenuRow>,
    errors: Vec<String>,
    api_ready: bool,
}

impl MenuPage {
    fn when(&self, t: &Option<chrono::NaiveDateTime>) -> String {
        crate::format::local_opt(t, &self.tz)
    }
    /// The names of a button's sub-menu entries that are filled in (the preview).
    fn filled_subs(&self, b: &ButtonForm) -> Vec<String> {
        b.subs
            .iter()
            .map(|s| s.name.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect()
    }
    fn kinds(&self) -> [(&'static str, String); 3] {
        ["click", "view", "miniprogram"]
            .map(|k| (k, self.page.t(&format!("menu.kind_{k}")).to_string()))
    }
}

/// A form error (`key|detail`) in the viewer's language.
fn message(lang: crate::i18n::Lang, e: &str) -> String {
    match e.split_once('|') {
        Some((key, detail)) => format!("{} {detail}", lang.t(key)),
        None => lang.t(e).to_string(),
    }
}

async fn render(
    ctx: &Ctx,
    slug: &str,
    form: Option<Vec<ButtonForm>>,
    errors: Vec<String>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(slug, Permission::Market).await?;
    let s2 = scope.clone();
    let (row, rules) = ctx
        .state
        .db(move |c| {
            Ok((
                menus::get(c, &s2)?,
                patron_store::reply_rules::list(c, &s2)?,
            ))
        })
        .await?;
    let buttons = form.unwrap_or_else(|| {
        row.as_ref()
            .and_then(|r| serde_json::from_str::<Menu>(&r.body).ok())
            .map(|m| to_form(&m))
            .unwrap_or_else(slots)
    });
    let page = ctx
        .page("menu", "menu.title", Some((&scope, &tenant)))
        .await?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let api_ready = tenant.wx_appid.is_some() && tenant.has_secret().app_secret;
    // Click keys no reply rule answers: a tap gets the default reply, or nothing.
    let answered = |key: &str| {
        rules.iter().any(|r| {
            r.enabled && r.trigger_kind == "click" && r.trigger_value.eq_ignore_ascii_case(key)
        })
    };
    let unanswered: Vec<String> = buttons
        .iter()
        .flat_map(|b| std::iter::once(&b.top).chain(b.subs.iter()))
        .filter(|a| a.kind == "click" && !a.value.trim().is_empty() && !answered(a.value.trim()))
        .map(|a| a.value.trim().to_string())
        .collect();
    Ok(html(
        &MenuPage {
            page,
            slug: tenant.slug.clone(),
            tz: tenant.time_zone.clone(),
            buttons,
            row,
            unanswered,
            errors,
            api_ready,
        },
        status,
    ))
}

pub async fn page(ctx: Ctx, slug: web::Path<String>) -> Result<HttpResponse, UiError> {
    render(&ctx, &slug, None, vec![]).await
}

/// Saves the menu; with `publish`, also sends it to WeChat and records the outcome.
pub async fn save(
    ctx: Ctx,
    slug: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    let (csrf, publish, form) = parse_form(&body);
    ctx.check_csrf(&csrf)?;
    let menu = match to_menu(&form) {
        Ok(m) => m,
        Err(e) => {
            tracing::info!(tenant = %tenant.slug, error = %e, "menu refused");
            return render(&ctx, &slug, Some(form), vec![message(ctx.lang, &e)]).await;
        }
    };
    let st = &ctx.state;
    let saved =
        patron_app::wechat::save_menu(&st.pool, &st.secrets, &scope, &tenant, &menu, publish)
            .await?;
    let back = paths::tenant(&tenant.slug).menu();
    let secure = ctx.state.cfg.secure_cookies;
    let (kind, key) = match saved {
        MenuSaved::Saved => ("ok", "flash.menu_saved"),
        MenuSaved::Published => ("ok", "flash.menu_published"),
        MenuSaved::NotConfigured => ("err", "flash.sync_needs_settings"),
        MenuSaved::Refused(e) => {
            let why = crate::format::wechat_failure(ctx.lang, &e);
            return Ok(crate::render::redirect_flash_with(
                &back,
                "err",
                "flash.menu_not_published",
                &why,
                secure,
            ));
        }
    };
    Ok(redirect_flash(&back, kind, key, secure))
}
