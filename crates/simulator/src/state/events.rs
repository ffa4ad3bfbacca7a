//! What users do on their phones (follow, unfollow, scan, write) and what WeChat
//! then pushes to the merchant's server: the state changes here, the pushes are
//! queued for [`crate::push`].

use super::State;
use crate::push::{Field, PushJob, PushMessage, SYSTEM_OPENID};
use crate::types::{Follower, Interaction, PushDelivery, QrScene};

impl State {
    /// Queues a push to the account's webhook, if it has one; its push id.
    fn queue_push(
        &mut self,
        appid: &str,
        delay: std::time::Duration,
        message: PushMessage,
    ) -> Option<u64> {
        let webhook = self.account(appid).webhook.clone()?;
        let push_id = self.next_push_id;
        self.next_push_id += 1;
        self.pending_pushes += 1;
        self.outbox.push(PushJob {
            push_id,
            appid: appid.to_owned(),
            webhook,
            delay,
            message,
        });
        Some(push_id)
    }

    /// The pushes queued since the last call.
    pub(crate) fn take_pushes(&mut self) -> Vec<PushJob> {
        std::mem::take(&mut self.outbox)
    }

    /// Records a delivery attempt; `last` when no other attempt follows.
    pub(crate) fn record_delivery(&mut self, appid: &str, delivery: PushDelivery, last: bool) {
        self.account_mut(appid).deliveries.push(delivery);
        if last {
            self.pending_pushes = self.pending_pushes.saturating_sub(1);
        }
    }

    /// `MASSSENDJOBFINISH` for the account's last accepted mass send, after
    /// [`crate::SimConfig::job_finish_delay`].
    pub(super) fn queue_job_finish(&mut self, appid: &str, msg_id: u64) {
        let account = self.account(appid);
        let send = account
            .mass
            .last()
            .filter(|m| m.msg_id == msg_id)
            .expect("the send was just recorded");
        let job = &send.job;
        let mut message =
            PushMessage::event(&account.original_id, SYSTEM_OPENID, "MASSSENDJOBFINISH")
                .with("MsgID", Field::Number(msg_id))
                .with("Status", Field::Text(job.status.clone()))
                .with("TotalCount", Field::Number(job.total_count))
                .with("FilterCount", Field::Number(job.filter_count))
                .with("SentCount", Field::Number(job.sent_count))
                .with("ErrorCount", Field::Number(job.error_count));
        if let Some(data_id) = send.msg_data_id {
            // An article send also reports its originality check and the article's URL.
            message = message
                .with(
                    "CopyrightCheckResult",
                    Field::Xml(
                        "<Count>0</Count><ResultList></ResultList><CheckState>1</CheckState>"
                            .into(),
                    ),
                )
                .with(
                    "ArticleUrlResult",
                    Field::Xml(format!(
                        "<Count>1</Count><ResultList><item><ArticleIdx>1</ArticleIdx>\
                         <ArticleUrl>{}</ArticleUrl></item></ResultList>",
                        crate::push::cdata(&format!(
                            "https://mp.weixin.qq.com/s?__biz=Sim&mid={data_id}&idx=1"
                        ))
                    )),
                );
        }
        let delay = self.config.job_finish_delay;
        self.queue_push(appid, delay, message);
    }

    /// A follow (plain, or through the QR code `ticket`); a former follower follows
    /// again. Opens an event window.
    ///
    /// # Panics
    /// If the ticket is unknown to the account.
    pub(crate) fn user_subscribes(
        &mut self,
        appid: &str,
        openid: &str,
        ticket: Option<&str>,
    ) -> Option<u64> {
        let now = self.now();
        let scene = ticket.map(|t| self.scene_of(appid, t));
        let account = self.account_mut(appid);
        if account.follower(openid).is_none() {
            account
                .insert_follower(Follower::new(openid))
                .expect("the openid is new");
        }
        let follower = account.follower_mut(openid).expect("present");
        follower.subscribed = true;
        follower.subscribe_time = now;
        match &scene {
            Some(QrScene::Id(id)) => {
                follower.subscribe_scene = "ADD_SCENE_QR_CODE".into();
                follower.qr_scene = *id;
                follower.qr_scene_str.clear();
            }
            Some(QrScene::Str(s)) => {
                follower.subscribe_scene = "ADD_SCENE_QR_CODE".into();
                follower.qr_scene = 0;
                follower.qr_scene_str = s.clone();
            }
            None => {
                follower.subscribe_scene = "ADD_SCENE_SEARCH".into();
                follower.qr_scene = 0;
                follower.qr_scene_str.clear();
            }
        }
        account.record_interaction(openid, Interaction::Event, now);
        let mut message = PushMessage::event(&account.original_id, openid, "subscribe");
        if let (Some(scene), Some(ticket)) = (&scene, ticket) {
            message = message
                .with(
                    "EventKey",
                    Field::Text(format!("qrscene_{}", scene_value(scene))),
                )
                .with("Ticket", Field::Text(ticket.to_owned()));
        }
        self.queue_push(appid, std::time::Duration::ZERO, message)
    }

    /// A scan of the QR code `ticket`: a `SCAN` event from a follower, a follow
    /// through the code ([`State::user_subscribes`]) from anyone else.
    ///
    /// # Panics
    /// If the ticket is unknown to the account.
    pub(crate) fn user_scans(&mut self, appid: &str, openid: &str, ticket: &str) -> Option<u64> {
        let following = self
            .account(appid)
            .follower(openid)
            .is_some_and(|f| f.subscribed);
        if !following {
            return self.user_subscribes(appid, openid, Some(ticket));
        }
        let scene = self.scene_of(appid, ticket);
        let now = self.now();
        let account = self.account_mut(appid);
        account.record_interaction(openid, Interaction::Event, now);
        let message = PushMessage::event(&account.original_id, openid, "SCAN")
            .with("EventKey", Field::Text(scene_value(&scene)))
            .with("Ticket", Field::Text(ticket.to_owned()));
        self.queue_push(appid, std::time::Duration::ZERO, message)
    }

    /// An unfollow: the user leaves the follower list and every open
    /// customer-service window closes.
    ///
    /// # Panics
    /// If the openid is unknown to the account.
    pub(crate) fn user_unsubscribes(&mut self, appid: &str, openid: &str) -> Option<u64> {
        let account = self.account_mut(appid);
        account
            .follower_mut(openid)
            .unwrap_or_else(|| panic!("{openid} is not a follower of {appid}"))
            .subscribed = false;
        account.windows.remove(openid);
        let message = PushMessage::event(&account.original_id, openid, "unsubscribe");
        self.queue_push(appid, std::time::Duration::ZERO, message)
    }

    /// A text message from a follower: opens a message window.
    ///
    /// # Panics
    /// If the openid does not follow the account.
    pub(crate) fn user_sends_text(
        &mut self,
        appid: &str,
        openid: &str,
        content: &str,
    ) -> Option<u64> {
        let now = self.now();
        let msg_id = self.next_user_msg_id;
        self.next_user_msg_id += 1;
        let account = self.account_mut(appid);
        assert!(
            account.follower(openid).is_some_and(|f| f.subscribed),
            "{openid} does not follow {appid}"
        );
        account.record_interaction(openid, Interaction::Message, now);
        let message = PushMessage::message(&account.original_id, openid, "text")
            .with("Content", Field::Text(content.to_owned()))
            .with("MsgId", Field::Number(msg_id));
        self.queue_push(appid, std::time::Duration::ZERO, message)
    }

    fn scene_of(&self, appid: &str, ticket: &str) -> QrScene {
        self.account(appid)
            .qrcodes
            .iter()
            .find(|q| q.ticket == ticket)
            .unwrap_or_else(|| panic!("no QR code of {appid} has the ticket {ticket}"))
            .scene
            .clone()
    }
}

/// The scene as `EventKey` carries it.
fn scene_value(scene: &QrScene) -> String {
    match scene {
        QrScene::Id(id) => id.to_string(),
        QrScene::Str(s) => s.clone(),
    }
}
