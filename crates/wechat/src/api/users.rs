//! Followers and user info (fact sheet §5.6): the follower list with its
//! `next_openid` paging, one user's info and the batch of up to 100.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::client::{check_list_size, Client, Method};
use super::error::Error;

/// The most openids `user/info/batchget` takes in one call.
pub const BATCHGET_MAX: usize = 100;

/// One page of `GET /cgi-bin/user/get`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FollowerPage {
    /// How many followers the account has in all.
    pub total: u64,
    /// How many openids this page holds.
    pub count: u64,
    /// The openids of this page (WeChat leaves `data` out when `count` is 0).
    pub openids: Vec<String>,
    /// Where the next page starts: the last openid of this page, or empty when the
    /// list is known to be complete.
    pub next_openid: String,
}

#[derive(Deserialize)]
struct RawFollowerPage {
    #[serde(default)]
    total: u64,
    #[serde(default)]
    count: u64,
    #[serde(default)]
    data: Option<OpenIdList>,
    #[serde(default)]
    next_openid: String,
}

#[derive(Deserialize)]
struct OpenIdList {
    #[serde(default)]
    openid: Vec<String>,
}

impl From<RawFollowerPage> for FollowerPage {
    fn from(raw: RawFollowerPage) -> Self {
        FollowerPage {
            total: raw.total,
            count: raw.count,
            openids: raw.data.map(|d| d.openid).unwrap_or_default(),
            next_openid: raw.next_openid,
        }
    }
}

/// A follower's info from `user/info` or `user/info/batchget`. Since late 2021
/// WeChat sends no nickname or avatar; an unfollowed user comes with `subscribe` 0
/// and little else.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UserInfo {
    /// 1 when the user follows the account, 0 otherwise.
    #[serde(default)]
    pub subscribe: u8,
    /// The user's openid for this account.
    pub openid: String,
    /// The unionid, when the account is bound to an Open Platform account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    /// The language the user's client uses (`zh_CN`…), when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// When the user last followed, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribe_time: Option<i64>,
    /// The merchant's remark on the user.
    #[serde(default)]
    pub remark: String,
    /// The tag ids the user carries.
    #[serde(default)]
    pub tagid_list: Vec<u32>,
    /// How the user came to follow (`ADD_SCENE_QR_CODE`, `ADD_SCENE_SEARCH`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribe_scene: Option<String>,
    /// The numeric scene of the QR code followed through, 0 if none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qr_scene: Option<u64>,
    /// The string scene of the QR code followed through, empty if none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qr_scene_str: Option<String>,
}

impl UserInfo {
    /// Whether the user currently follows the account.
    pub fn is_subscribed(&self) -> bool {
        self.subscribe == 1
    }
}

#[derive(Deserialize)]
struct BatchGetResponse {
    #[serde(default)]
    user_info_list: Vec<UserInfo>,
}

/// Walks the follower list page by page, following `next_openid`.
///
/// Ends when WeChat answers a page with `count` 0, or after a page whose
/// `next_openid` is empty. Obtain one with [`Client::follower_pages`].
#[derive(Debug, Clone)]
pub struct FollowerPages {
    client: Client,
    next_openid: String,
    done: bool,
}

impl FollowerPages {
    /// The next page, or `None` once the list is exhausted. After an error the
    /// same page can be asked for again.
    pub async fn next_page(&mut self) -> Result<Option<FollowerPage>, Error> {
        if self.done {
            return Ok(None);
        }
        let from = (!self.next_openid.is_empty()).then_some(self.next_openid.as_str());
        let page = self.client.followers(from).await?;
        if page.count == 0 || page.openids.is_empty() {
            self.done = true;
            return Ok(None);
        }
        if page.next_openid.is_empty() || page.next_openid == self.next_openid {
            self.done = true;
        } else {
            self.next_openid.clone_from(&page.next_openid);
        }
        Ok(Some(page))
    }

    /// The `next_openid` the next request will send (empty at the start): store it
    /// to resume a long walk later with [`Client::follower_pages_from`].
    pub fn resume_point(&self) -> &str {
        &self.next_openid
    }
}

impl Client {
    /// One page of followers (`GET /cgi-bin/user/get`), at most 10 000 openids,
    /// starting after `next_openid` (from the start when `None`).
    pub async fn followers(&self, next_openid: Option<&str>) -> Result<FollowerPage, Error> {
        let query: Vec<(&str, &str)> = match next_openid {
            Some(next) if !next.is_empty() => vec![("next_openid", next)],
            _ => Vec::new(),
        };
        let raw: RawFollowerPage = self
            .call(Method::Get, "/cgi-bin/user/get", &query, None)
            .await?;
        Ok(raw.into())
    }

    /// Pages over all followers from the start; see [`FollowerPages`].
    pub fn follower_pages(&self) -> FollowerPages {
        self.follower_pages_from("")
    }

    /// Pages over the followers after `next_openid` (a [`FollowerPages::resume_point`]).
    pub fn follower_pages_from(&self, next_openid: &str) -> FollowerPages {
        FollowerPages {
            client: self.clone(),
            next_openid: next_openid.to_owned(),
            done: false,
        }
    }

    /// Every follower's openid, all pages collected.
    pub async fn all_followers(&self) -> Result<Vec<String>, Error> {
        let mut pages = self.follower_pages();
        let mut all = Vec::new();
        while let Some(page) = pages.next_page().await? {
            all.extend(page.openids);
        }
        Ok(all)
    }

    /// One user's info (`GET /cgi-bin/user/info`, `lang=zh_CN`).
    pub async fn user_info(&self, openid: &str) -> Result<UserInfo, Error> {
        if openid.is_empty() {
            return Err(Error::Invalid("openid is empty".into()));
        }
        self.call(
            Method::Get,
            "/cgi-bin/user/info",
            &[("openid", openid), ("lang", "zh_CN")],
            None,
        )
        .await
    }

    /// Several users' info in one call (`POST /cgi-bin/user/info/batchget`): 1 to
    /// [`BATCHGET_MAX`] openids, refused client-side otherwise.
    pub async fn user_info_batch<S: AsRef<str>>(
        &self,
        openids: &[S],
    ) -> Result<Vec<UserInfo>, Error> {
        check_list_size("user_list", openids.len(), BATCHGET_MAX)?;
        let body = batchget_body(openids);
        let response: BatchGetResponse = self
            .call(
                Method::Post,
                "/cgi-bin/user/info/batchget",
                &[],
                Some(&body),
            )
            .await?;
        Ok(response.user_info_list)
    }
}

fn batchget_body<S: AsRef<str>>(openids: &[S]) -> serde_json::Value {
    let list: Vec<_> = openids
        .iter()
        .map(|openid| json!({ "openid": openid.as_ref(), "lang": "zh_CN" }))
        .collect();
    json!({ "user_list": list })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_page_without_data() {
        let raw: RawFollowerPage =
            serde_json::from_str(r#"{"total":23000,"count":0,"next_openid":""}"#).unwrap();
        let page = FollowerPage::from(raw);
        assert_eq!((page.total, page.count), (23000, 0));
        assert!(page.openids.is_empty() && page.next_openid.is_empty());

        let raw: RawFollowerPage = serde_json::from_str(
            r#"{"total":2,"count":2,"data":{"openid":["OPENID1","OPENID2"]},"next_openid":"OPENID2"}"#,
        )
        .unwrap();
        let page = FollowerPage::from(raw);
        assert_eq!(page.openids, ["OPENID1", "OPENID2"]);
        assert_eq!(page.next_openid, "OPENID2");
    }

    #[test]
    fn user_info_shapes() {
        let info: UserInfo = serde_json::from_str(
            r#"{"subscribe":1,"openid":"o6_bmjrPTlm6_2sgVt7hMZOPfL2M","language":"zh_CN",
                "subscribe_time":1382694957,"unionid":"o6_bmasdasdsad6_2sgVt7hMZOPfL",
                "remark":"","groupid":0,"tagid_list":[128,2],"subscribe_scene":"ADD_SCENE_QR_CODE",
                "qr_scene":98765,"qr_scene_str":""}"#,
        )
        .unwrap();
        assert!(info.is_subscribed());
        assert_eq!(info.tagid_list, [128, 2]);
        assert_eq!(info.qr_scene, Some(98765));

        let gone: UserInfo =
            serde_json::from_str(r#"{"subscribe":0,"openid":"o6_x","tagid_list":[]}"#).unwrap();
        assert!(!gone.is_subscribed());
        assert_eq!(gone.subscribe_time, None);
    }

    #[test]
    fn batchget_request() {
        let body = batchget_body(&["a", "b"]);
        assert_eq!(
            body,
            json!({"user_list":[{"openid":"a","lang":"zh_CN"},{"openid":"b","lang":"zh_CN"}]})
        );
    }
}
