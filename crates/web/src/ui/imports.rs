//! Followers CSV import: upload (checked at once, every bad row listed by line), preview,
//! confirm, and the job's progress. A file with a bad row cannot be confirmed.

use crate::ctx::Ctx;
use crate::error::UiError;
use crate::paths;
use crate::render::{html, redirect_flash, Page};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use patron_app::AppError;
use patron_domain::follower_csv::{self, RowError};
use patron_domain::Permission;
use patron_store::imports::{self, Import};
use patron_store::{attributes, jobs};

/// The largest file accepted (about 400,000 rows of a full export).
pub use patron_app::followers::MAX_UPLOAD;
/// Rows shown in a preview.
const PREVIEW_ROWS: usize = 10;
/// Row errors shown on the page (all are counted).
const SHOW_ERRORS: usize = 200;

#[derive(Template)]
#[template(path = "import.html")]
struct ImportPage {
    page: Page,
    slug: String,
    tz: String,
    recent: Vec<Import>,
    attr_columns: Vec<String>,
    errors: Vec<String>,
}

impl ImportPage {
    fn when(&self, t: &chrono::NaiveDateTime) -> String {
        crate::format::local(t, &self.tz)
    }
    fn status(&self, s: &str) -> String {
        self.page.t(&format!("import.status_{s}")).to_string()
    }
}

async fn render_page(ctx: &Ctx, slug: &str, errors: Vec<String>) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(slug, Permission::Market).await?;
    let s2 = scope.clone();
    let (recent, attrs) = ctx
        .state
        .db(move |c| Ok((imports::recent(c, &s2, 10)?, attributes::list(c, &s2)?)))
        .await?;
    let page = ctx
        .page("followers", "import.title", Some((&scope, &tenant)))
        .await?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(html(
        &ImportPage {
            page,
            slug: tenant.slug.clone(),
            tz: tenant.time_zone.clone(),
            recent,
            attr_columns: attrs
                .iter()
                .map(|a| format!("{}{}", follower_csv::ATTR_PREFIX, a.key))
                .collect(),
            errors,
        },
        status,
    ))
}

pub async fn page(ctx: Ctx, slug: web::Path<String>) -> Result<HttpResponse, UiError> {
    render_page(&ctx, &slug, vec![]).await
}

/// Checks the uploaded file and records it; a file refused as a whole changes nothing.
pub async fn upload(
    ctx: Ctx,
    slug: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    // The CSRF token travels first in the multipart body and is checked before the file
    // is read.
    let up = crate::forms::read_upload(&ctx, &req, payload).await?;
    let fail = |key: &str, detail: Option<String>| {
        let mut m = ctx.lang.t(key).to_string();
        if let Some(d) = detail {
            m = format!("{m} ({d})");
        }
        vec![m]
    };
    if up.too_large {
        tracing::info!(tenant = %tenant.slug, "import refused: file too large");
        return render_page(&ctx, &slug, fail("import.too_large", None)).await;
    }
    let author = ctx.require_user()?.user.name.clone();
    let result = ctx
        .state
        .run(move |c| patron_app::imports::check_file(c, &scope, &author, &up.file_name, &up.body))
        .await?;
    match result {
        Ok(imp) => {
            tracing::info!(tenant = %tenant.slug, import = imp.id, rows = imp.total_rows, bad = imp.error_rows, "followers file checked");
            Ok(HttpResponse::SeeOther()
                .insert_header((
                    "Location",
                    paths::tenant(&tenant.slug).import_status(imp.id),
                ))
                .finish())
        }
        Err(e) => {
            tracing::info!(tenant = %tenant.slug, reason = e.code(), "import refused");
            let detail = match &e {
                follower_csv::FileError::UnknownColumns(c)
                | follower_csv::FileError::DuplicateColumn(c)
                | follower_csv::FileError::Csv(c) => Some(c.clone()),
                follower_csv::FileError::TooManyRows(n) => Some(n.to_string()),
                _ => None,
            };
            render_page(&ctx, &slug, fail(&format!("err.{}", e.code()), detail)).await
        }
    }
}

#[derive(Template)]
#[template(path = "import_show.html")]
struct ShowPage {
    page: Page,
    slug: String,
    imp: Import,
    errors: Vec<RowError>,
    preview_head: Vec<String>,
    preview: Vec<Vec<String>>,
    job: Option<jobs::Job>,
}

impl ShowPage {
    fn status(&self) -> String {
        self.page
            .t(&format!("import.status_{}", self.imp.status))
            .to_string()
    }
    /// What the job's message says, in words: how many followers it created, updated and
    /// left unchanged, or why it failed (a catalogue code).
    fn outcome(&self) -> Option<String> {
        let m = self.imp.message.as_deref()?;
        let count = |name: &str| -> Option<i64> {
            m.split(' ')
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))?
                .parse()
                .ok()
        };
        Some(
            match (count("created"), count("updated"), count("unchanged")) {
                (Some(c), Some(u), Some(n)) => self.page.lang.tn("import.applied", &[&c, &u, &n]),
                _ => self.page.t(&format!("err.{m}")).to_string(),
            },
        )
    }
    fn error_text(&self, e: &RowError) -> String {
        self.page.t(&format!("err.{}", e.code)).to_string()
    }
    /// Rows with errors beyond the ones listed.
    fn more_errors(&self) -> i64 {
        let listed = self
            .errors
            .iter()
            .map(|e| e.line)
            .collect::<std::collections::HashSet<_>>()
            .len() as i64;
        (self.imp.error_rows - listed).max(0)
    }
    fn percent(&self) -> i64 {
        match &self.job {
            Some(j) if j.state == jobs::DONE => 100,
            Some(j) => match j.progress_total {
                Some(t) if t > 0 => j.progress_done * 100 / t,
                _ => 0,
            },
            None => 0,
        }
    }
}

/// The first rows of a file, for the preview.
fn preview(body: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let body = body.trim_start_matches('\u{feff}');
    let mut rd = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(body.as_bytes());
    let head = rd
        .headers()
        .map(|h| h.iter().map(str::to_string).collect())
        .unwrap_or_default();
    let rows = rd
        .records()
        .take(PREVIEW_ROWS)
        .filter_map(Result::ok)
        .map(|r| r.iter().map(str::to_string).collect())
        .collect();
    (head, rows)
}

pub async fn show(ctx: Ctx, path: web::Path<(String, i64)>) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    let s2 = scope.clone();
    let (imp, body, job) = ctx
        .state
        .db(move |c| {
            let imp = imports::get(c, &s2, id)?;
            let body = if imp.status == imports::CHECKED {
                imports::body(c, &s2, id)?
            } else {
                String::new()
            };
            let job = match imp.job_id {
                Some(j) => jobs::get(c, &s2, patron_domain::JobId(j)).ok(),
                None => None,
            };
            Ok((imp, body, job))
        })
        .await?;
    let (preview_head, preview) = preview(&body);
    let mut errors = imp.row_errors();
    errors.truncate(SHOW_ERRORS);
    let page = ctx
        .page("followers", "import.title", Some((&scope, &tenant)))
        .await?;
    Ok(html(
        &ShowPage {
            page,
            slug: tenant.slug.clone(),
            imp,
            errors,
            preview_head,
            preview,
            job,
        },
        StatusCode::OK,
    ))
}

pub async fn confirm(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<crate::forms::CsrfOnly>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    let back = paths::tenant(&tenant.slug).import_status(id);
    let secure = ctx.state.cfg.secure_cookies;
    match ctx
        .state
        .run(move |c| patron_app::imports::confirm(c, &scope, id))
        .await
    {
        Ok(job) => {
            tracing::info!(tenant = %tenant.slug, import = id, job = job.0, "followers import queued");
            Ok(redirect_flash(&back, "ok", "flash.import_queued", secure))
        }
        Err(AppError::Conflict(_)) => Ok(redirect_flash(
            &back,
            "err",
            "flash.import_not_ready",
            secure,
        )),
        Err(e) => Err(e.into()),
    }
}
