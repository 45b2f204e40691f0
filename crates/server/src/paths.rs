//! Which API a path belongs to, by the prefixes each dialect's router serves: one answer
//! for the metrics' `dialect` label and for the envelope a timed-out request is answered in.

/// The dialect a path or route template belongs to, by its prefix (the prefixes each
/// dialect's router serves).
pub(crate) fn dialect(path: &str) -> &'static str {
    if let Some(rest) = path.strip_prefix("/open-apis") {
        // Feishu's paths carry a version segment (`/im/v1`, `/auth/v3`); Hi's do not.
        let hi = (rest.starts_with("/im/") && !rest.starts_with("/im/v1/"))
            || (rest.starts_with("/auth/") && !rest.starts_with("/auth/v3/"));
        return if hi { "hi" } else { "feishu" };
    }
    if path.starts_with("/callback/ws/") || path.starts_with("/ws/") {
        return "feishu";
    }
    if path.starts_with("/v7/") || path.starts_with("/openapi/") || path == "/oauth2/token" {
        return "wps";
    }
    if path.starts_with("/im/") {
        return "yunxin";
    }
    if path.starts_with("/admin/") {
        return "admin";
    }
    if path == "/console" || path.starts_with("/console/") {
        return "console";
    }
    "server"
}

#[cfg(test)]
mod tests {
    use super::dialect;

    #[test]
    fn each_prefix_names_its_dialect() {
        for (path, d) in [
            ("/open-apis/im/v1/messages/{message_id}", "feishu"),
            ("/open-apis/auth/v3/tenant_access_token/internal", "feishu"),
            ("/open-apis/im/messages/om_1", "hi"),
            ("/open-apis/auth/tenant_access_token/internal", "hi"),
            ("/callback/ws/endpoint", "feishu"),
            ("/v7/chats", "wps"),
            ("/openapi/v7/chats", "wps"),
            ("/oauth2/token", "wps"),
            ("/im/v2/accounts/a", "yunxin"),
            ("/admin/v1/tenants", "admin"),
            ("/console/playground", "console"),
            ("/metrics", "server"),
            ("/files/v1/messages/1/k", "server"),
        ] {
            assert_eq!(dialect(path), d, "{path}");
        }
    }
}
