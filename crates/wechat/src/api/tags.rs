//! User tags (fact sheet §5.6): create, list, rename, delete, tag and untag
//! followers in batches of up to 50, list a tag's followers and a follower's tags.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::client::{check_list_size, Ack, Client, Method};
use super::error::Error;
use super::users::FollowerPage;

/// The most openids one `batchtagging` / `batchuntagging` call takes.
pub const BATCH_TAGGING_MAX: usize = 50;
/// The longest tag name, in bytes of UTF-8.
pub const TAG_NAME_MAX_BYTES: usize = 30;
/// How many tags an account may create.
pub const MAX_TAGS: usize = 100;
/// How many tags one follower may carry.
pub const MAX_TAGS_PER_USER: usize = 20;
/// Tag ids WeChat reserves (0, 1 and 2, "星标组"); they cannot be changed.
pub const RESERVED_TAG_IDS: [u32; 3] = [0, 1, 2];

/// A tag of the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// WeChat's id of the tag (user-created tags start at 100).
    pub id: u32,
    /// The tag's name.
    pub name: String,
    /// How many followers carry it (only `tags/get` reports it).
    #[serde(default)]
    pub count: u64,
}

#[derive(Deserialize)]
struct TagEnvelope {
    tag: Tag,
}

#[derive(Deserialize)]
struct TagsEnvelope {
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
struct TagIdList {
    #[serde(default)]
    tagid_list: Vec<u32>,
}

#[derive(Deserialize)]
struct RawTagMembers {
    #[serde(default)]
    count: u64,
    #[serde(default)]
    data: Option<OpenIds>,
    #[serde(default)]
    next_openid: String,
}

#[derive(Deserialize)]
struct OpenIds {
    #[serde(default)]
    openid: Vec<String>,
}

fn check_tag_name(name: &str) -> Result<(), Error> {
    if name.trim().is_empty() {
        return Err(Error::Invalid("tag name is empty".into()));
    }
    if name.len() > TAG_NAME_MAX_BYTES {
        return Err(Error::Invalid(format!(
            "tag name is {} bytes, at most {TAG_NAME_MAX_BYTES} allowed",
            name.len()
        )));
    }
    Ok(())
}

fn tagging_body<S: AsRef<str>>(tagid: u32, openids: &[S]) -> Result<serde_json::Value, Error> {
    check_list_size("openid_list", openids.len(), BATCH_TAGGING_MAX)?;
    let list: Vec<&str> = openids.iter().map(AsRef::as_ref).collect();
    Ok(json!({ "openid_list": list, "tagid": tagid }))
}

impl Client {
    /// Creates a tag (`POST /cgi-bin/tags/create`). Names of 1 to 30 bytes only;
    /// WeChat refuses a duplicate name (45157) and a 101st tag (45056).
    pub async fn create_tag(&self, name: &str) -> Result<Tag, Error> {
        check_tag_name(name)?;
        let body = json!({ "tag": { "name": name } });
        let created: TagEnvelope = self
            .call(Method::Post, "/cgi-bin/tags/create", &[], Some(&body))
            .await?;
        Ok(created.tag)
    }

    /// All tags of the account with their follower counts (`GET /cgi-bin/tags/get`).
    pub async fn tags(&self) -> Result<Vec<Tag>, Error> {
        let tags: TagsEnvelope = self
            .call(Method::Get, "/cgi-bin/tags/get", &[], None)
            .await?;
        Ok(tags.tags)
    }

    /// Renames a tag (`POST /cgi-bin/tags/update`); reserved ids answer 45058.
    pub async fn update_tag(&self, id: u32, name: &str) -> Result<(), Error> {
        check_tag_name(name)?;
        let body = json!({ "tag": { "id": id, "name": name } });
        let _: Ack = self
            .call(Method::Post, "/cgi-bin/tags/update", &[], Some(&body))
            .await?;
        Ok(())
    }

    /// Deletes a tag and takes it off its followers (`POST /cgi-bin/tags/delete`);
    /// reserved ids answer 45058, tags on more than 100 000 followers 45057.
    pub async fn delete_tag(&self, id: u32) -> Result<(), Error> {
        let body = json!({ "tag": { "id": id } });
        let _: Ack = self
            .call(Method::Post, "/cgi-bin/tags/delete", &[], Some(&body))
            .await?;
        Ok(())
    }

    /// Puts a tag on 1 to 50 followers (`POST /cgi-bin/tags/members/batchtagging`).
    /// WeChat refuses the whole batch if one follower would carry more than 20 tags
    /// (45059).
    pub async fn batch_tag<S: AsRef<str>>(&self, tagid: u32, openids: &[S]) -> Result<(), Error> {
        let body = tagging_body(tagid, openids)?;
        let _: Ack = self
            .call(
                Method::Post,
                "/cgi-bin/tags/members/batchtagging",
                &[],
                Some(&body),
            )
            .await?;
        Ok(())
    }

    /// Takes a tag off 1 to 50 followers (`POST /cgi-bin/tags/members/batchuntagging`).
    pub async fn batch_untag<S: AsRef<str>>(&self, tagid: u32, openids: &[S]) -> Result<(), Error> {
        let body = tagging_body(tagid, openids)?;
        let _: Ack = self
            .call(
                Method::Post,
                "/cgi-bin/tags/members/batchuntagging",
                &[],
                Some(&body),
            )
            .await?;
        Ok(())
    }

    /// The tag ids one follower carries (`POST /cgi-bin/tags/getidlist`).
    pub async fn user_tag_ids(&self, openid: &str) -> Result<Vec<u32>, Error> {
        let body = json!({ "openid": openid });
        let ids: TagIdList = self
            .call(Method::Post, "/cgi-bin/tags/getidlist", &[], Some(&body))
            .await?;
        Ok(ids.tagid_list)
    }

    /// One page (up to 10 000) of a tag's followers (`POST /cgi-bin/user/tag/get`),
    /// after `next_openid`. `total` is not reported by this API and stays 0.
    pub async fn tag_followers(
        &self,
        tagid: u32,
        next_openid: Option<&str>,
    ) -> Result<FollowerPage, Error> {
        let body = json!({ "tagid": tagid, "next_openid": next_openid.unwrap_or("") });
        let raw: RawTagMembers = self
            .call(Method::Post, "/cgi-bin/user/tag/get", &[], Some(&body))
            .await?;
        Ok(FollowerPage {
            total: 0,
            count: raw.count,
            openids: raw.data.map(|d| d.openid).unwrap_or_default(),
            next_openid: raw.next_openid,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_in_bytes() {
        assert!(check_tag_name("广东").is_ok());
        // 10 CJK characters are 30 bytes; 11 are 33.
        assert!(check_tag_name(&"广".repeat(10)).is_ok());
        assert!(check_tag_name(&"广".repeat(11)).is_err());
        assert!(check_tag_name(" ").is_err());
    }

    #[test]
    fn tagging_limits() {
        let fifty: Vec<String> = (0..50).map(|i| format!("o{i}")).collect();
        let body = tagging_body(134, &fifty).unwrap();
        assert_eq!(body["tagid"], 134);
        assert_eq!(body["openid_list"].as_array().unwrap().len(), 50);
        let fifty_one: Vec<String> = (0..51).map(|i| format!("o{i}")).collect();
        assert!(matches!(
            tagging_body(134, &fifty_one),
            Err(Error::Invalid(_))
        ));
        assert!(tagging_body::<&str>(134, &[]).is_err());
    }

    #[test]
    fn tag_answers() {
        let tags: TagsEnvelope = serde_json::from_str(
            r#"{"tags":[{"id":2,"name":"星标组","count":0},{"id":127,"name":"广东","count":5}]}"#,
        )
        .unwrap();
        assert_eq!(tags.tags[1].name, "广东");
        let created: TagEnvelope =
            serde_json::from_str(r#"{"tag":{"id":134,"name":"广东"}}"#).unwrap();
        assert_eq!(created.tag.id, 134);
        assert_eq!(created.tag.count, 0);
    }
}
