//! Who may deliver: `allow_ips` CIDR lists per event type and per tenant, and the client address
//! behind reverse proxies.
//!
//! The client address is the TCP peer, unless the peer is one of the `trusted_proxies`: then the
//! forwarding header (`X-Forwarded-For` by default, or RFC 7239 `Forwarded` when
//! `client_ip_header` says so) is walked from the right, skipping hops that are trusted proxies
//! themselves; the first untrusted hop is the client. Entries left of it were written by the
//! client and are never believed, so a spoofed `X-Forwarded-For` gains nothing, and a request
//! from an untrusted peer is judged by the peer's own address whatever its headers say.
//!
//! The raw keys ([`RawAccess`], flattened into the provider object) are checked once into
//! [`Access`]; every bad CIDR is a configuration error naming its key.

use crate::config::{ConfigError, RawTenant};
use axum::http::HeaderMap;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

/// The provider keys this module owns (for the "unknown key" message).
pub const KEYS: &[&str] = &[
    "trusted_proxies",
    "client_ip_header",
    "allow_ips",
    "metrics_allow_ips",
];

/// The TCP peer of a request, put into its extensions by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// A checked list of networks (CIDRs; a bare address is a /32 or /128).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpList(Vec<IpNet>);

impl IpList {
    /// Parses every entry; the error names `key[i]` and says what a CIDR looks like.
    pub fn parse(items: &[String], key: &str) -> Result<IpList, ConfigError> {
        items
            .iter()
            .enumerate()
            .map(|(i, s)| parse_cidr(s).map_err(|m| invalid(format!("{key}[{i}]"), m)))
            .collect::<Result<Vec<_>, _>>()
            .map(IpList)
    }

    /// Whether `ip` is in one of the networks (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|n| n.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One CIDR (`192.0.2.0/24`, `2001:db8::/32`) or one address (`192.0.2.7`, `::1`).
fn parse_cidr(text: &str) -> Result<IpNet, String> {
    let s = text.trim();
    if s.contains('/') {
        let net: IpNet = s.parse().map_err(|_| {
            format!("`{text}` is not a CIDR like 192.0.2.0/24 or 2001:db8::/32 (or one address)")
        })?;
        if net.trunc() != net {
            return Err(format!(
                "`{text}` has address bits set after the /{} prefix; write {} (the network), or the address alone for one host",
                net.prefix_len(),
                net.trunc()
            ));
        }
        Ok(net)
    } else {
        let ip: IpAddr = s.parse().map_err(|_| {
            format!("`{text}` is not an IP address or a CIDR like 192.0.2.0/24 or 2001:db8::/32")
        })?;
        Ok(IpNet::from(ip.to_canonical()))
    }
}

/// Which header carries the proxy chain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, Caddy, most load balancers).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for="[2001:db8::1]:4711"`.
    Forwarded,
}

impl ForwardedHeader {
    fn parse(s: &str) -> Result<ForwardedHeader, String> {
        match s.to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(ForwardedHeader::XForwardedFor),
            "forwarded" => Ok(ForwardedHeader::Forwarded),
            _ => Err(format!(
                "`{s}` is not supported; use `x-forwarded-for` (the default) or `forwarded`"
            )),
        }
    }

    fn name(self) -> &'static str {
        match self {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        }
    }
}

/// The access keys as written in the bundle (flattened into the provider object).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawAccess {
    /// Proxies whose forwarding header is believed (CIDRs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxies: Vec<String>,
    /// `x-forwarded-for` (default) or `forwarded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip_header: Option<String>,
    /// Per event type: the networks that may deliver it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub allow_ips: BTreeMap<String, Vec<String>>,
    /// The networks that may read `GET /metrics` (default: any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_allow_ips: Option<Vec<String>>,
}

impl RawAccess {
    /// Reads this module's keys from the provider object; errors name `{prefix}.{key}...`.
    pub fn from_provider_map(map: &Map<String, Value>, prefix: &str) -> Result<Self, ConfigError> {
        let key = |k: &str| format!("{prefix}.{k}");
        let trusted_proxies = match map.get("trusted_proxies") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => string_list(v, &key("trusted_proxies"))?,
        };
        let client_ip_header = match map.get("client_ip_header") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                return Err(invalid(
                    key("client_ip_header"),
                    format!("expected a string, got {other}"),
                ))
            }
        };
        let mut allow_ips = BTreeMap::new();
        match map.get("allow_ips") {
            None | Some(Value::Null) => {}
            Some(Value::Object(items)) => {
                for (event_type, v) in items {
                    let k = format!("{}.{event_type}", key("allow_ips"));
                    allow_ips.insert(event_type.clone(), string_list(v, &k)?);
                }
            }
            Some(other) => {
                return Err(invalid(
                    key("allow_ips"),
                    format!("expected an object keyed by event type, each a list of CIDRs (`{{\"github\": [\"192.30.252.0/22\"]}}`), got {other}"),
                ))
            }
        }
        let metrics_allow_ips = match map.get("metrics_allow_ips") {
            None | Some(Value::Null) => None,
            Some(v) => Some(string_list(v, &key("metrics_allow_ips"))?),
        };
        Ok(RawAccess {
            trusted_proxies,
            client_ip_header,
            allow_ips,
            metrics_allow_ips,
        })
    }

    /// Checks every list (with the tenants' own `allow_ips`) into an [`Access`].
    pub fn check(
        &self,
        tenants: &BTreeMap<String, RawTenant>,
        prefix: &str,
    ) -> Result<Access, ConfigError> {
        let key = |k: &str| format!("{prefix}.{k}");
        let nonempty = |items: &[String], k: &str| -> Result<IpList, ConfigError> {
            if items.is_empty() {
                return Err(invalid(
                    k,
                    "an empty list would reject everyone; leave the key out to allow any address",
                ));
            }
            IpList::parse(items, k)
        };
        let trusted_proxies = IpList::parse(&self.trusted_proxies, &key("trusted_proxies"))?;
        let header = match &self.client_ip_header {
            None => ForwardedHeader::default(),
            Some(s) => {
                ForwardedHeader::parse(s).map_err(|m| invalid(key("client_ip_header"), m))?
            }
        };
        let mut by_event_type = BTreeMap::new();
        for (event_type, items) in &self.allow_ips {
            let k = format!("{}.{event_type}", key("allow_ips"));
            if event_type.is_empty() || event_type.contains('/') {
                return Err(invalid(
                    k,
                    "not a valid event type (the `{event_type}` URL segment: no `/`, not empty)",
                ));
            }
            by_event_type.insert(event_type.clone(), nonempty(items, &k)?);
        }
        let mut by_tenant = BTreeMap::new();
        for (tenant, raw) in tenants {
            if let Some(items) = &raw.allow_ips {
                let k = format!("{prefix}.tenants.{tenant}.allow_ips");
                by_tenant.insert(tenant.clone(), nonempty(items, &k)?);
            }
        }
        let metrics = self
            .metrics_allow_ips
            .as_deref()
            .map(|items| nonempty(items, &key("metrics_allow_ips")))
            .transpose()?;
        Ok(Access {
            trusted_proxies,
            header,
            by_event_type,
            by_tenant,
            metrics,
        })
    }
}

/// Checked access rules; part of [`crate::config::Config`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    pub trusted_proxies: IpList,
    pub header: ForwardedHeader,
    /// `allow_ips.<event_type>`.
    pub by_event_type: BTreeMap<String, IpList>,
    /// `tenants.<tenant>.allow_ips`.
    pub by_tenant: BTreeMap<String, IpList>,
    /// `metrics_allow_ips`; `None` lets anyone read `/metrics`.
    pub metrics: Option<IpList>,
}

impl Access {
    /// The client's address: the peer, or (from a trusted proxy) the first untrusted hop of the
    /// forwarding header walked from the right. `None` when it cannot be known: no peer, or a
    /// hop that is not an address (`unknown`, an obfuscated `_name`, garbage).
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?.to_canonical();
        if !self.trusted_proxies.contains(peer) {
            return Some(peer);
        }
        let mut client = peer;
        for hop in forwarded_chain(headers, self.header).iter().rev() {
            let ip = (*hop)?.to_canonical();
            client = ip;
            if !self.trusted_proxies.contains(ip) {
                break;
            }
        }
        Some(client)
    }

    /// Whether `allow_ips` restricts this tenant or event type at all.
    pub fn restricts(&self, tenant: &str, event_type: &str) -> bool {
        self.by_event_type.contains_key(event_type) || self.by_tenant.contains_key(tenant)
    }

    /// Whether `client` may deliver `event_type` for `tenant`: it must be in the event type's
    /// list and in the tenant's list, where either is configured.
    pub fn admits(&self, tenant: &str, event_type: &str, client: Option<IpAddr>) -> bool {
        let lists = [
            self.by_event_type.get(event_type),
            self.by_tenant.get(tenant),
        ];
        lists
            .iter()
            .flatten()
            .all(|list| client.is_some_and(|ip| list.contains(ip)))
    }

    /// Whether `client` may read `/metrics`.
    pub fn admits_metrics(&self, client: Option<IpAddr>) -> bool {
        match &self.metrics {
            None => true,
            Some(list) => client.is_some_and(|ip| list.contains(ip)),
        }
    }
}

/// The hops of the forwarding header, left to right, over every instance of the header; `None`
/// for a hop that is not an address.
fn forwarded_chain(headers: &HeaderMap, header: ForwardedHeader) -> Vec<Option<IpAddr>> {
    let mut hops = Vec::new();
    for value in headers.get_all(header.name()) {
        let Ok(text) = value.to_str() else {
            hops.push(None);
            continue;
        };
        match header {
            ForwardedHeader::XForwardedFor => {
                hops.extend(text.split(',').map(|h| parse_hop(h.trim())));
            }
            ForwardedHeader::Forwarded => {
                hops.extend(split_unquoted(text, ',').into_iter().map(forwarded_for));
            }
        }
    }
    hops
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:8080`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:4711`.
fn parse_hop(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    s.strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|r| r.parse::<IpAddr>().ok())
}

/// The `for=` address of one `Forwarded` element (`for=192.0.2.60;proto=http;by=...`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    split_unquoted(element, ';').into_iter().find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("for") {
            return None;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        parse_hop(value)
    })
}

/// Splits on `sep` outside double quotes (RFC 7239 values may be quoted strings).
fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                out.push(s[start..i].trim());
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out
}

pub(crate) fn string_list(v: &Value, key: &str) -> Result<Vec<String>, ConfigError> {
    let Value::Array(items) = v else {
        return Err(invalid(
            key,
            format!("expected a list of CIDRs like [\"192.0.2.0/24\", \"2001:db8::/32\"], got {v}"),
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(s) => Ok(s.clone()),
            other => Err(invalid(
                format!("{key}[{i}]"),
                format!("expected a string, got {other}"),
            )),
        })
        .collect()
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn list(items: &[&str]) -> IpList {
        let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
        match IpList::parse(&items, "k") {
            Ok(l) => l,
            Err(e) => panic!("{e}"),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn cidrs_v4_and_v6() {
        let l = list(&["10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1"]);
        assert!(l.contains(ip("10.1.2.3")));
        assert!(!l.contains(ip("11.0.0.1")));
        assert!(l.contains(ip("192.0.2.7")));
        assert!(!l.contains(ip("192.0.2.8")));
        assert!(l.contains(ip("2001:db8:1::5")));
        assert!(!l.contains(ip("2001:db9::1")));
        assert!(l.contains(ip("::1")));
        // An IPv4 peer seen through a dual-stack socket.
        assert!(l.contains(ip("::ffff:10.9.9.9")));
    }

    #[test]
    fn bad_cidrs_are_clear_errors() {
        let err = |s: &str| match IpList::parse(&[s.to_string()], "events-webhook.allow_ips.gh") {
            Ok(_) => String::from("ok"),
            Err(e) => e.to_string(),
        };
        assert_eq!(
            err("10.0.0.1/8"),
            "events-webhook.allow_ips.gh[0]: `10.0.0.1/8` has address bits set after the /8 prefix; write 10.0.0.0/8 (the network), or the address alone for one host"
        );
        assert!(err("10.0.0.0/33").contains("is not a CIDR like 192.0.2.0/24"));
        assert!(err("example.com").contains("is not an IP address or a CIDR"));
        assert!(err("2001:db8::/129").contains("is not a CIDR"));
        assert_eq!(err(" 2001:db8::/32 "), "ok");
    }

    #[test]
    fn untrusted_peer_headers_are_ignored() {
        let a = Access::default();
        let h = headers(&[("x-forwarded-for", "1.1.1.1")]);
        assert_eq!(
            a.client_ip(Some(ip("203.0.113.9")), &h),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(a.client_ip(None, &h), None);
    }

    #[test]
    fn trusted_chain_is_walked_from_the_right() {
        let a = Access {
            trusted_proxies: list(&["10.0.0.0/8"]),
            ..Access::default()
        };
        let peer = Some(ip("10.0.0.1"));
        // The client sent a spoofed first hop; the proxies appended the real ones.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.4, 10.0.0.2")]);
        assert_eq!(a.client_ip(peer, &h), Some(ip("198.51.100.4")));
        // Several header lines are one list.
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "198.51.100.4:5555"),
        ]);
        assert_eq!(a.client_ip(peer, &h), Some(ip("198.51.100.4")));
        // No header: the proxy itself.
        assert_eq!(a.client_ip(peer, &HeaderMap::new()), peer);
        // Every hop trusted: the leftmost.
        let h = headers(&[("x-forwarded-for", "10.1.1.1, 10.2.2.2")]);
        assert_eq!(a.client_ip(peer, &h), Some(ip("10.1.1.1")));
        // A hop that is not an address ends the walk without an answer.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, garbage")]);
        assert_eq!(a.client_ip(peer, &h), None);
        // The other header is not read.
        let h = headers(&[("forwarded", "for=1.2.3.4")]);
        assert_eq!(a.client_ip(peer, &h), peer);
    }

    #[test]
    fn rfc7239_forwarded() {
        let a = Access {
            trusted_proxies: list(&["127.0.0.1", "::1"]),
            header: ForwardedHeader::Forwarded,
            ..Access::default()
        };
        let peer = Some(ip("127.0.0.1"));
        let h = headers(&[(
            "forwarded",
            r#"for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https, for=127.0.0.1;by=x"#,
        )]);
        assert_eq!(a.client_ip(peer, &h), Some(ip("2001:db8:cafe::17")));
        let h = headers(&[("forwarded", r#"for="192.0.2.60:8080";proto=http"#)]);
        assert_eq!(a.client_ip(peer, &h), Some(ip("192.0.2.60")));
        let h = headers(&[("forwarded", "For=unknown")]);
        assert_eq!(a.client_ip(peer, &h), None);
        let h = headers(&[("forwarded", "for=_hidden, for=192.0.2.1")]);
        assert_eq!(a.client_ip(peer, &h), Some(ip("192.0.2.1")));
    }

    #[test]
    fn both_lists_must_admit() {
        let a = Access {
            by_event_type: BTreeMap::from([("github".to_string(), list(&["192.30.252.0/22"]))]),
            by_tenant: BTreeMap::from([("acme".to_string(), list(&["192.30.252.0/24"]))]),
            ..Access::default()
        };
        assert!(a.admits("other", "stripe", None), "no list, anyone");
        assert!(a.restricts("other", "github") && a.restricts("acme", "stripe"));
        assert!(!a.restricts("other", "stripe"));
        assert!(a.admits("other", "github", Some(ip("192.30.253.1"))));
        assert!(!a.admits("acme", "github", Some(ip("192.30.253.1"))));
        assert!(a.admits("acme", "github", Some(ip("192.30.252.1"))));
        assert!(!a.admits("other", "github", None), "unknown client");
        assert!(a.admits_metrics(None));
    }

    #[test]
    fn access_keys_round_trip_through_the_bundle() {
        let text = r#"{"events-webhook": {"enabled": true, "public_base_url": "https://x",
            "trusted_proxies": ["10.0.0.0/8"], "client_ip_header": "forwarded",
            "allow_ips": {"github": ["192.30.252.0/22"]}, "metrics_allow_ips": ["127.0.0.1"],
            "tenants": {"acme": {"allow_ips": ["198.51.100.0/24"]}, "beta": {}}}}"#;
        let raw =
            crate::config::RawConfig::from_answers_json(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(raw.access.trusted_proxies, ["10.0.0.0/8"]);
        let back = crate::config::RawConfig::from_answers_json(&raw.to_bundle_json());
        assert_eq!(back, Ok(raw.clone()));
        let config = raw.check().unwrap_or_else(|e| panic!("{e}"));
        assert!(config.access.by_tenant.contains_key("acme"));
        assert!(!config.access.by_tenant.contains_key("beta"));
    }

    #[test]
    fn raw_keys_and_their_errors() {
        let parse = |v: serde_json::Value| -> Result<Access, String> {
            let Value::Object(map) = v else {
                return Err("not an object".into());
            };
            RawAccess::from_provider_map(&map, "p")
                .and_then(|r| r.check(&BTreeMap::new(), "p"))
                .map_err(|e| e.to_string())
        };
        let ok = parse(serde_json::json!({
            "trusted_proxies": ["127.0.0.1", "10.0.0.0/8"],
            "client_ip_header": "Forwarded",
            "allow_ips": {"github": ["192.30.252.0/22", "2620:112:3000::/44"]},
            "metrics_allow_ips": ["127.0.0.1"]
        }));
        let ok = match ok {
            Ok(a) => a,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(ok.header, ForwardedHeader::Forwarded);
        assert!(ok.metrics.is_some());
        let cases = [
            (
                serde_json::json!({"trusted_proxies": "10.0.0.0/8"}),
                "p.trusted_proxies: expected a list",
            ),
            (
                serde_json::json!({"trusted_proxies": [1]}),
                "p.trusted_proxies[0]: expected a string",
            ),
            (
                serde_json::json!({"allow_ips": {"gh": []}}),
                "p.allow_ips.gh: an empty list",
            ),
            (
                serde_json::json!({"allow_ips": {"gh": ["x"]}}),
                "p.allow_ips.gh[0]: `x` is not",
            ),
            (
                serde_json::json!({"allow_ips": ["1.2.3.4"]}),
                "p.allow_ips: expected an object",
            ),
            (
                serde_json::json!({"client_ip_header": "x-real-ip"}),
                "p.client_ip_header: `x-real-ip` is not supported",
            ),
            (
                serde_json::json!({"metrics_allow_ips": []}),
                "p.metrics_allow_ips: an empty list",
            ),
        ];
        for (v, want) in cases {
            let got = parse(v.clone())
                .map(|_| String::from("ok"))
                .unwrap_or_else(|e| e);
            assert!(got.starts_with(want), "{v} => {got}");
        }
    }
}
