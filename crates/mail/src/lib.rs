//! Outgoing email. Production sends through SMTP (lettre); local use logs each message
//! instead, so `patron serve` works with no mail server.

use lettre::message::{header::ContentType, Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Write messages to the log (default: nothing to configure).
    #[default]
    Log,
    Smtp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection (loopback relays, tests).
    None,
    /// Upgrade with STARTTLS (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

#[derive(Debug, Clone)]
pub struct MailConfig {
    pub transport: Transport,
    pub from: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_tls: SmtpTls,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<String>,
    /// The most bulk emails a minute (broadcasts): the mail provider's sending limit.
    pub per_minute: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid address {0:?}")]
    Address(String),
    #[error("could not build the message: {0}")]
    Build(String),
    #[error("SMTP delivery failed: {0}")]
    Smtp(String),
}

/// One email to send: a subject and a plain-text body (and an optional HTML body).
#[derive(Debug, Clone)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    /// A bulk email's unsubscribe URL: sent as `List-Unsubscribe` with RFC 8058's
    /// one-click `List-Unsubscribe-Post`, so mail clients offer their own button.
    pub unsubscribe: Option<String>,
}

#[derive(Clone)]
pub struct Mailer {
    cfg: MailConfig,
    from: Mailbox,
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
}

impl Mailer {
    pub fn new(cfg: MailConfig) -> Result<Self, MailError> {
        let from: Mailbox = cfg
            .from
            .parse()
            .map_err(|_| MailError::Address(cfg.from.clone()))?;
        let smtp = match cfg.transport {
            Transport::Log => None,
            Transport::Smtp => {
                let tls = match cfg.smtp_tls {
                    SmtpTls::None => Tls::None,
                    SmtpTls::Starttls | SmtpTls::Tls => {
                        let p = TlsParameters::new(cfg.smtp_host.clone())
                            .map_err(|e| MailError::Smtp(e.to_string()))?;
                        if cfg.smtp_tls == SmtpTls::Tls {
                            Tls::Wrapper(p)
                        } else {
                            Tls::Required(p)
                        }
                    }
                };
                let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.smtp_host)
                    .port(cfg.smtp_port)
                    .tls(tls)
                    .timeout(Some(std::time::Duration::from_secs(15)));
                if let (Some(u), Some(p)) = (&cfg.smtp_username, &cfg.smtp_password) {
                    b = b.credentials(Credentials::new(u.clone(), p.clone()));
                }
                Some(b.build())
            }
        };
        Ok(Mailer { cfg, from, smtp })
    }

    pub fn transport(&self) -> Transport {
        self.cfg.transport
    }

    /// The most bulk emails a minute.
    pub fn per_minute(&self) -> u32 {
        self.cfg.per_minute
    }

    pub async fn send(&self, email: Email) -> Result<(), MailError> {
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|_| MailError::Address(email.to.clone()))?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone());
        if let Some(url) = &email.unsubscribe {
            use lettre::message::header::{HeaderName, HeaderValue};
            builder = builder
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe"),
                    format!("<{url}>"),
                ))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".into(),
                ));
        }
        let msg = match &email.html {
            None => builder
                .header(ContentType::TEXT_PLAIN)
                .body(email.text.clone()),
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                html.clone(),
            )),
        }
        .map_err(|e| MailError::Build(e.to_string()))?;
        match &self.smtp {
            None => {
                tracing::info!(to = %email.to, subject = %email.subject, body = %email.text, "mail (log transport)");
                Ok(())
            }
            Some(t) => {
                t.send(msg)
                    .await
                    .map_err(|e| MailError::Smtp(e.to_string()))?;
                tracing::info!(to = %email.to, subject = %email.subject, "mail sent");
                Ok(())
            }
        }
    }
}

/// Whether `s` is a usable sender or recipient, e.g. `Patron <patron@example.com>`.
pub fn valid_mailbox(s: &str) -> bool {
    s.parse::<Mailbox>().is_ok()
}
