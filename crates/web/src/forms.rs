//! Reading what browsers post: repeated fields, a form that carries only its CSRF token,
//! and multipart uploads whose CSRF token is checked before the file is read.

use crate::ctx::Ctx;
use crate::error::UiError;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use patron_app::followers::MAX_UPLOAD;
use serde::Deserialize;

/// The pairs of an `application/x-www-form-urlencoded` body, repeated names kept in order
/// (`serde_urlencoded` cannot read repeated fields into a Vec).
pub fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                urlencoding::decode(&s.replace('+', " "))
                    .map(|c| c.into_owned())
                    .unwrap_or_default()
            };
            (dec(k), dec(v))
        })
        .collect()
}

/// A form with nothing but its CSRF token (a button).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CsrfOnly {
    pub csrf: String,
}

/// The fields of the upload form.
#[derive(Default)]
pub(crate) struct Upload {
    pub file_name: String,
    pub body: Vec<u8>,
    pub too_large: bool,
}

/// Reads a multipart form whose first field is `csrf` and which carries a `file` (at most
/// 64 MiB). The CSRF token is checked as soon as it is read, before anything else of the
/// body is buffered: a forged upload costs the server one small field, not 64 MiB. The
/// upload forms put the token first (a browser sends fields in the form's order).
pub(crate) async fn read_upload(
    ctx: &Ctx,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Upload, UiError> {
    let mut mp = actix_multipart::Multipart::new(req.headers(), payload);
    let mut up = Upload::default();
    let mut csrf_checked = false;
    while let Some(field) = mp.next().await {
        let mut field = match field {
            Ok(f) => f,
            Err(e) if csrf_checked => return Err(UiError::BadRequest(e.to_string())),
            Err(e) => {
                tracing::info!(error = %e, "upload unreadable before its CSRF token");
                return Err(UiError::Csrf);
            }
        };
        let name = field.name().unwrap_or_default().to_string();
        if !csrf_checked && name != "csrf" {
            tracing::info!(field = %name, "upload refused: the CSRF token is not its first field");
            return Err(UiError::Csrf);
        }
        if name == "file" {
            up.file_name = field
                .content_disposition()
                .and_then(|d| d.get_filename())
                .unwrap_or("upload.csv")
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect();
        }
        let limit = if csrf_checked { MAX_UPLOAD } else { 1024 };
        let mut buf = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| UiError::BadRequest(e.to_string()))?;
            if buf.len() + chunk.len() > limit {
                up.too_large = true;
                break;
            }
            buf.extend_from_slice(&chunk);
        }
        if !csrf_checked {
            ctx.check_csrf(&String::from_utf8_lossy(&buf))?;
            csrf_checked = true;
            continue;
        }
        if name == "file" {
            up.body = buf;
        }
        if up.too_large {
            break;
        }
    }
    if !csrf_checked {
        return Err(UiError::Csrf);
    }
    Ok(up)
}

/// A multipart upload whose file is read as it arrives (a trade bill may be hundreds of
/// megabytes): [`open_upload`] checks the CSRF token, then stops at the `file` field.
pub(crate) struct UploadStream {
    mp: actix_multipart::Multipart,
    field: actix_multipart::Field,
    pub file_name: String,
}

impl UploadStream {
    /// The file's bytes, as they arrive.
    pub fn body(&mut self) -> &mut actix_multipart::Field {
        &mut self.field
    }

    /// Reads what follows the file (nothing, in the forms that use this), so the
    /// connection stays usable.
    pub async fn drain(self) {
        let UploadStream { mut mp, field, .. } = self;
        // The multipart stream moves on only once the field it handed out is gone.
        drop(field);
        while let Some(Ok(mut f)) = mp.next().await {
            while let Some(Ok(_)) = f.next().await {}
        }
    }
}

/// Opens a multipart form whose first field is `csrf` and whose next is `file`, the
/// token checked before a byte of the file is read. `Ok(None)`: the form has no file.
pub(crate) async fn open_upload(
    ctx: &Ctx,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Option<UploadStream>, UiError> {
    let mut mp = actix_multipart::Multipart::new(req.headers(), payload);
    let mut csrf_checked = false;
    while let Some(field) = mp.next().await {
        let mut field = match field {
            Ok(f) => f,
            Err(e) if csrf_checked => return Err(UiError::BadRequest(e.to_string())),
            Err(e) => {
                tracing::info!(error = %e, "upload unreadable before its CSRF token");
                return Err(UiError::Csrf);
            }
        };
        let name = field.name().unwrap_or_default().to_string();
        if !csrf_checked {
            if name != "csrf" {
                tracing::info!(field = %name, "upload refused: the CSRF token is not its first field");
                return Err(UiError::Csrf);
            }
            let mut buf = Vec::new();
            while let Some(chunk) = field.next().await {
                let chunk = chunk.map_err(|e| UiError::BadRequest(e.to_string()))?;
                if buf.len() + chunk.len() > 1024 {
                    return Err(UiError::Csrf);
                }
                buf.extend_from_slice(&chunk);
            }
            ctx.check_csrf(&String::from_utf8_lossy(&buf))?;
            csrf_checked = true;
            continue;
        }
        if name == "file" {
            let file_name = field
                .content_disposition()
                .and_then(|d| d.get_filename())
                .unwrap_or("bill.csv")
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect();
            return Ok(Some(UploadStream {
                mp,
                field,
                file_name,
            }));
        }
        // Another field before the file: skipped.
        while let Some(Ok(_)) = field.next().await {}
    }
    if !csrf_checked {
        return Err(UiError::Csrf);
    }
    Ok(None)
}
