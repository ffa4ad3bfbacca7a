//! Auto-reply rules: list, create with a preview of what answers a sample message, delete.

use crate::ctx::Ctx;
use crate::error::UiError;
use crate::paths;
use crate::render::{html, redirect_flash, Page};
use crate::ui::messages as form_messages;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use patron_app::AppError;
use patron_domain::replies::{self, Article, Content, Incoming, Trigger, Window};
use patron_domain::{validate, Permission};
use patron_store::reply_rules::{self, ReplyRule};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "replies.html")]
struct RepliesPage {
    page: Page,
    slug: String,
    rules: Vec<ReplyRule>,
    kinds: Vec<(&'static str, String)>,
    form: RuleForm,
    /// The sample, and the summaries of the messages that would answer it.
    preview: Option<(String, Option<Vec<String>>)>,
    errors: Vec<String>,
    /// Each refused field and why, shown beside it.
    field_errors: super::FieldErrors,
    /// The rule the form edits (else it adds one).
    editing: Option<i64>,
    /// The tenant's campaigns (a rule may issue a coupon of one).
    campaigns: Vec<patron_store::coupons::Campaign>,
}

const WEEKDAYS: [u8; 7] = [1, 2, 3, 4, 5, 6, 7];

impl RepliesPage {
    fn field_err(&self, field: &str) -> Option<&str> {
        self.field_errors.get(field)
    }
    fn campaign_name(&self, id: &i64) -> String {
        self.campaigns
            .iter()
            .find(|c| c.id == *id)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| format!("#{id}"))
    }
    fn campaign_chosen(&self, id: &i64) -> bool {
        self.form.campaign_id.trim() == id.to_string()
    }
    fn kind_name(&self, kind: &str) -> String {
        self.page.t(&format!("trigger.{kind}")).to_string()
    }
    /// What a rule sends, one line per message.
    fn summaries(&self, r: &ReplyRule) -> Vec<String> {
        r.messages()
            .unwrap_or_default()
            .iter()
            .map(|m| summary(self.page.lang, m))
            .collect()
    }
    fn window_text(&self, r: &ReplyRule) -> Option<String> {
        r.window().map(|w| window_text(self.page.lang, &w))
    }
    fn weekdays(&self) -> Vec<(u8, String, bool)> {
        WEEKDAYS
            .iter()
            .map(|d| {
                (
                    *d,
                    self.page.t(&format!("weekday.{d}")).to_string(),
                    self.form.active_days.contains(d),
                )
            })
            .collect()
    }
}

/// A line describing one message.
fn summary(lang: crate::i18n::Lang, m: &Content) -> String {
    match m {
        Content::Text { text } => text.clone(),
        Content::Image { media_id } => format!("{} {media_id}", lang.t("replies.kind_image")),
        Content::News { articles } => format!(
            "{} {}",
            lang.t("replies.kind_news"),
            articles
                .iter()
                .map(|a| a.title.as_str())
                .collect::<Vec<_>>()
                .join(" · ")
        ),
    }
}

fn hhmm(m: u16) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

fn window_text(lang: crate::i18n::Lang, w: &Window) -> String {
    let days: Vec<String> = WEEKDAYS
        .iter()
        .filter(|d| w.days & (1 << (**d - 1)) != 0)
        .map(|d| lang.t(&format!("weekday.{d}")).to_string())
        .collect();
    let mut out = if w.days == Window::ALL_DAYS {
        lang.t("replies.every_day").to_string()
    } else {
        days.join(" ")
    };
    if w.start != w.end {
        out.push_str(&format!(" {}–{}", hhmm(w.start), hhmm(w.end)));
    }
    if w.from.is_some() || w.to.is_some() {
        let d = |d: &Option<chrono::NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
        out.push_str(&format!(" ({} – {})", d(&w.from), d(&w.to)));
    }
    out
}

/// The rule form. Parsed by hand: the weekdays are a repeated field.
#[derive(Default, Clone)]
pub struct RuleForm {
    csrf: String,
    trigger_kind: String,
    trigger_value: String,
    /// text, image or news: the first (passive) message.
    reply_kind: String,
    reply_body: String,
    media_id: String,
    article_title: String,
    article_description: String,
    article_url: String,
    article_pic_url: String,
    /// Further text messages (sent as customer-service messages), one per paragraph
    /// separated by a line `---`.
    more: String,
    /// A campaign whose coupon the rule issues (empty: none).
    campaign_id: String,
    priority: String,
    active_days: Vec<u8>,
    active_start: String,
    active_end: String,
    active_from: String,
    active_to: String,
}

impl RuleForm {
    /// The form filled with a rule as it is (its first message in the fields, the others
    /// as further texts).
    fn of(r: &ReplyRule) -> RuleForm {
        let mut f = RuleForm {
            trigger_kind: r.trigger_kind.clone(),
            trigger_value: r.trigger_value.clone(),
            priority: r.priority.to_string(),
            campaign_id: r.campaign_id.map(|c| c.to_string()).unwrap_or_default(),
            reply_kind: "text".into(),
            ..Default::default()
        };
        let messages = r.messages().unwrap_or_default();
        let mut it = messages.into_iter();
        match it.next() {
            Some(Content::Image { media_id }) => {
                f.reply_kind = "image".into();
                f.media_id = media_id;
            }
            Some(Content::News { articles }) => {
                f.reply_kind = "news".into();
                if let Some(a) = articles.into_iter().next() {
                    (
                        f.article_title,
                        f.article_description,
                        f.article_url,
                        f.article_pic_url,
                    ) = (a.title, a.description, a.url, a.pic_url);
                }
            }
            Some(Content::Text { text }) => f.reply_body = text,
            _ => {}
        }
        f.more = it
            .filter_map(|m| match m {
                Content::Text { text } => Some(text),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n---\n");
        if let Some(w) = r.window() {
            f.active_days = WEEKDAYS
                .iter()
                .copied()
                .filter(|d| w.days & (1 << (d - 1)) != 0)
                .collect();
            let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
            if w.start != w.end {
                (f.active_start, f.active_end) = (hm(w.start), hm(w.end));
            }
            f.active_from = w.from.map(|d| d.to_string()).unwrap_or_default();
            f.active_to = w.to.map(|d| d.to_string()).unwrap_or_default();
        }
        f
    }

    fn parse(body: &[u8]) -> RuleForm {
        let mut f = RuleForm::default();
        for (k, v) in crate::forms::form_pairs(body) {
            match k.as_str() {
                "csrf" => f.csrf = v,
                "trigger_kind" => f.trigger_kind = v,
                "trigger_value" => f.trigger_value = v,
                "reply_kind" => f.reply_kind = v,
                "reply_body" => f.reply_body = v,
                "media_id" => f.media_id = v,
                "article_title" => f.article_title = v,
                "article_description" => f.article_description = v,
                "article_url" => f.article_url = v,
                "article_pic_url" => f.article_pic_url = v,
                "more" => f.more = v,
                "campaign_id" => f.campaign_id = v,
                "priority" => f.priority = v,
                "active_days" => f.active_days.extend(v.parse::<u8>().ok()),
                "active_start" => f.active_start = v,
                "active_end" => f.active_end = v,
                "active_from" => f.active_from = v,
                "active_to" => f.active_to = v,
                _ => {}
            }
        }
        f
    }

    /// The messages the form describes.
    fn messages(&self) -> Vec<Content> {
        let first = match self.reply_kind.as_str() {
            "image" => Content::Image {
                media_id: self.media_id.trim().to_string(),
            },
            "news" => Content::News {
                articles: vec![Article {
                    title: self.article_title.trim().to_string(),
                    description: self.article_description.trim().to_string(),
                    url: self.article_url.trim().to_string(),
                    pic_url: self.article_pic_url.trim().to_string(),
                }],
            },
            _ => Content::Text {
                text: self.reply_body.trim().to_string(),
            },
        };
        let more = self.more.replace("\r\n", "\n");
        std::iter::once(first)
            .chain(
                more.split("\n---")
                    .map(|p| p.trim().trim_start_matches("---").trim())
                    .filter(|p| !p.is_empty())
                    .map(|p| Content::Text {
                        text: p.to_string(),
                    }),
            )
            .collect()
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PreviewQuery {
    /// A sample message text: the page shows which rule would answer it, now.
    sample: String,
}

/// The page, its form adding a rule or editing `editing`, with every refusal in `errs` in
/// the summary and beside its field.
async fn render(
    ctx: &Ctx,
    slug: &str,
    form: RuleForm,
    sample: &str,
    errs: &[validate::Invalid],
    editing: Option<i64>,
) -> Result<HttpResponse, UiError> {
    let (errors, field_errors) = (
        form_messages(ctx.lang, errs),
        super::FieldErrors::of(ctx.lang, errs),
    );
    let (scope, tenant) = ctx.tenant(slug, Permission::Market).await?;
    let s2 = scope.clone();
    let (rules, active, campaigns) = ctx
        .state
        .db(move |c| {
            Ok((
                reply_rules::list(c, &s2)?,
                reply_rules::active(c, &s2)?,
                patron_store::coupons::list(c, &s2)?,
            ))
        })
        .await?;
    let tz: chrono_tz::Tz = tenant
        .time_zone
        .parse()
        .unwrap_or(chrono_tz::Asia::Shanghai);
    let local = chrono::Utc::now().with_timezone(&tz).naive_local();
    let preview = (!sample.trim().is_empty()).then(|| {
        let chosen = replies::choose(&active, &Incoming::Text(sample), local).map(|r| {
            r.reply
                .messages
                .iter()
                .map(|m| summary(ctx.lang, m))
                .collect()
        });
        (sample.to_string(), chosen)
    });
    let kinds = Trigger::KINDS
        .into_iter()
        .map(|k| (k, ctx.lang.t(&format!("trigger.{k}")).to_string()))
        .collect();
    let page = ctx
        .page("replies", "replies.title", Some((&scope, &tenant)))
        .await?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(html(
        &RepliesPage {
            page,
            slug: tenant.slug,
            rules,
            kinds,
            form,
            preview,
            errors,
            field_errors,
            editing,
            campaigns,
        },
        status,
    ))
}

pub async fn list(
    ctx: Ctx,
    slug: web::Path<String>,
    q: web::Query<PreviewQuery>,
) -> Result<HttpResponse, UiError> {
    render(&ctx, &slug, RuleForm::default(), &q.sample, &[], None).await
}

pub async fn create(
    ctx: Ctx,
    slug: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    let form = RuleForm::parse(&body);
    ctx.check_csrf(&form.csrf)?;
    let rule = match judge(&form) {
        Ok(rule) => rule,
        Err(errs) => {
            tracing::info!(tenant = %tenant.slug, fields = ?errs.iter().map(|e| e.field).collect::<Vec<_>>(), "reply rule refused");
            return render(&ctx, &slug, form, "", &errs, None).await;
        }
    };
    match ctx
        .state
        .run(move |c| patron_app::replies::create_rule(c, &scope, &rule.as_new()))
        .await
    {
        Ok(_) => {
            ctx.state.forget_cached(Some(&tenant.slug));
            Ok(redirect_flash(
                &paths::tenant(&tenant.slug).replies(),
                "ok",
                "flash.rule_created",
                ctx.state.cfg.secure_cookies,
            ))
        }
        Err(AppError::Invalid(errs)) => {
            tracing::info!(tenant = %tenant.slug, errors = ?errs, "reply rule refused");
            render(&ctx, &slug, form, "", &errs, None).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn delete(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<crate::forms::CsrfOnly>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    ctx.state
        .run(move |c| patron_app::replies::delete_rule(c, &scope, id))
        .await?;
    ctx.state.forget_cached(Some(&tenant.slug));
    Ok(redirect_flash(
        &paths::tenant(&tenant.slug).replies(),
        "ok",
        "flash.rule_deleted",
        ctx.state.cfg.secure_cookies,
    ))
}

/// The page with its form filled with a rule, to change it.
pub async fn edit_form(ctx: Ctx, path: web::Path<(String, i64)>) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, _) = ctx.tenant(&slug, Permission::Market).await?;
    let rule = ctx
        .state
        .db(move |c| reply_rules::get(c, &scope, id))
        .await?;
    let form = RuleForm::of(&rule);
    render(&ctx, &slug, form, "", &[], Some(id)).await
}

/// Changes a rule; every problem is reported at once, beside its field; the change is
/// recorded.
pub async fn update(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    let form = RuleForm::parse(&body);
    ctx.check_csrf(&form.csrf)?;
    // Another tenant's (or no) rule is 404 before the form is judged.
    let s2 = scope.clone();
    ctx.state.db(move |c| reply_rules::get(c, &s2, id)).await?;
    let rule = match judge(&form) {
        Ok(rule) => rule,
        Err(errs) => return render(&ctx, &slug, form, "", &errs, Some(id)).await,
    };
    let by = ctx.require_user()?.user.name.clone();
    match ctx
        .state
        .run(move |c| patron_app::replies::update_rule(c, &scope, id, &rule.as_new(), &by))
        .await
    {
        Ok(_) => {
            ctx.state.forget_cached(Some(&tenant.slug));
            Ok(redirect_flash(
                &paths::tenant(&tenant.slug).replies(),
                "ok",
                "flash.saved",
                ctx.state.cfg.secure_cookies,
            ))
        }
        Err(AppError::Invalid(errs)) => render(&ctx, &slug, form, "", &errs, Some(id)).await,
        Err(e) => Err(e.into()),
    }
}

/// What a rule form says, read and checked.
struct Judged {
    trigger: Trigger,
    window: Option<Window>,
    messages: Vec<Content>,
    priority: i64,
    campaign: Option<i64>,
}

impl Judged {
    fn as_new(&self) -> patron_app::replies::NewRule<'_> {
        patron_app::replies::NewRule {
            trigger: &self.trigger,
            messages: &self.messages,
            priority: self.priority,
            window: self.window.as_ref(),
            campaign: self.campaign,
        }
    }
}

/// What a rule form says, or every problem with it at once: the trigger, the active
/// window, the messages, the priority and the campaign are judged apart.
fn judge(form: &RuleForm) -> Result<Judged, Vec<validate::Invalid>> {
    let mut errs = Vec::new();
    let trigger = Trigger::parse(&form.trigger_kind, &form.trigger_value)
        .map_err(|i| errs.push(i))
        .ok();
    let window = Window::from_form(
        &form.active_days,
        &form.active_start,
        &form.active_end,
        &form.active_from,
        &form.active_to,
    )
    .map_err(|i| errs.push(i))
    .ok();
    let messages = form.messages();
    if let Err(i) = replies::encode(&messages) {
        errs.push(i);
    }
    let priority = match form.priority.trim() {
        "" => 0,
        v => v.parse::<i64>().unwrap_or_else(|_| {
            errs.push(validate::invalid("priority", "invalid_number"));
            0
        }),
    };
    let campaign = match form.campaign_id.trim() {
        "" => None,
        v => v
            .parse::<i64>()
            .map_err(|_| errs.push(validate::invalid("campaign_id", "unknown")))
            .ok(),
    };
    match (trigger, window) {
        (Some(trigger), Some(window)) if errs.is_empty() => Ok(Judged {
            trigger,
            window,
            messages,
            priority,
            campaign,
        }),
        _ => Err(errs),
    }
}
