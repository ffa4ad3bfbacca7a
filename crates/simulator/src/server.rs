//! The actix-web glue: one catch-all handler in front of [`State::handle`], run on
//! its own thread with its own actix `System`.

use std::collections::HashMap;
use std::io;
use std::net::TcpListener;
use std::sync::{mpsc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};

use actix_web::dev::ServerHandle;
use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

use crate::push::{Pusher, Settings};
use crate::state::{Outcome, Request, State};

/// The state every request and every test hook goes through, and the pusher that
/// delivers what they queue.
pub(crate) struct Shared {
    state: Mutex<State>,
    pusher: Pusher,
}

impl Shared {
    /// The shared state, with its pusher thread started.
    pub(crate) fn new(state: State) -> io::Result<Self> {
        let config = &state.config;
        let pusher = Pusher::start(Settings {
            timeout: config.push_timeout,
            attempts: config.push_attempts,
            retry_pause: config.push_retry_pause,
        })?;
        Ok(Shared {
            state: Mutex::new(state),
            pusher,
        })
    }

    /// The state; a panic elsewhere while holding it does not lock tests out.
    /// Pushes queued through this guard wait for the next [`Shared::run`].
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the state, then hands the pushes it queued to the pusher (after
    /// the lock is released).
    pub(crate) fn run<R>(shared: &web::Data<Shared>, f: impl FnOnce(&mut State) -> R) -> R {
        let (result, jobs) = {
            let mut state = shared.lock();
            let result = f(&mut state);
            (result, state.take_pushes())
        };
        for job in jobs {
            shared.pusher.send(shared.clone(), job);
        }
        result
    }

    /// Stops the pusher thread; undelivered pushes are dropped.
    pub(crate) fn stop_pushes(&self) {
        self.pusher.stop();
    }
}

async fn dispatch(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let query = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let origin = {
        let info = req.connection_info();
        format!("{}://{}", info.scheme(), info.host())
    };
    let request = Request {
        post: req.method() == Method::POST,
        path: req.path(),
        query,
        body: &body,
        path_and_query: req
            .uri()
            .path_and_query()
            .map_or(req.path(), |pq| pq.as_str()),
        authorization: req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
        origin: &origin,
    };
    let mut outcome = Shared::run(&shared, |state| state.handle(&request));
    if let Outcome::Late(pause, inner) = outcome {
        actix_web::rt::time::sleep(pause).await;
        outcome = *inner;
    }
    match outcome {
        // WeChat's own content type for JSON answers.
        Outcome::Json(value) => HttpResponse::Ok()
            .content_type("application/json; encoding=utf-8")
            .body(value.to_string()),
        Outcome::Status(status, text) => {
            HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY))
                .content_type("text/plain; charset=utf-8")
                .body(text)
        }
        Outcome::Pay(answer) => {
            let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
            let mut response = HttpResponse::build(status);
            response.content_type(answer.content_type);
            for (name, value) in answer.headers {
                response.insert_header((name, value));
            }
            response.body(answer.body)
        }
        Outcome::Late(..) => HttpResponse::InternalServerError().finish(),
    }
}

/// Serves `listener` on a new thread until the returned handle stops it.
pub(crate) fn spawn(
    listener: TcpListener,
    shared: web::Data<Shared>,
) -> io::Result<(ServerHandle, JoinHandle<()>)> {
    let (tx, rx) = mpsc::channel();
    let thread = thread::Builder::new()
        .name("patron-simulator".into())
        .spawn(move || {
            let system = actix_web::rt::System::new();
            system.block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(shared.clone())
                        .app_data(web::PayloadConfig::new(8 << 20))
                        .default_service(web::to(dispatch))
                })
                .workers(1)
                .disable_signals()
                .shutdown_timeout(1)
                .listen(listener);
                match server {
                    Ok(server) => {
                        let server = server.run();
                        let _ = tx.send(Ok(server.handle()));
                        let _ = server.await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            });
        })?;
    let handle = rx
        .recv()
        .map_err(|_| io::Error::other("the simulator thread ended before serving"))??;
    Ok((handle, thread))
}
