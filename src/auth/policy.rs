//! Who may call which `/api` route. The declaration lives on each handler's
//! `#[utoipa::path]` as an OpenAPI security requirement, so the published spec and the
//! enforcement cannot drift:
//!
//! - `security(("session" = ["operator"]))`: a browser session of role operator or above.
//! - `security(("service_token" = ["traces:write"]))`: a service token holding that scope; no
//!   cookies (a writer route). `("service_token" = [])` accepts any valid token.
//! - Both tuples: either credential.
//!
//! Nothing declared (default deny): `GET` needs a session of any role, every other method an
//! admin session. The few routes reachable without credentials are listed in [`PUBLIC`].
//! Paths outside `/api/` (health, metrics, the web app) and the API docs are not guarded.
//!
//! On top of the role, the second factor ([`second_factor`]): an admin or operator without 2FA
//! may only call [`ENROLLMENT_ROUTES`] (the first admin may get a grace from its creation), and
//! [`STEP_UP_ROUTES`] need a 2FA verification within the step-up window, whoever calls. Service
//! tokens hold no second factor; they only ever reach writer routes (never these).

use std::collections::{BTreeSet, HashMap};

use axum::http::Method;
use chrono::{DateTime, Duration, Utc};
use utoipa::openapi::{
    OpenApi,
    security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme},
};

use crate::domain::access::Role;

pub const SESSION_SCHEME: &str = "session";
pub const TOKEN_SCHEME: &str = "service_token";

/// The only `/api` routes that answer without credentials.
pub const PUBLIC: &[(&str, &str)] = &[
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/2fa/verify"),
    ("POST", "/api/auth/register"),
    // Whether the first admin exists yet (a boolean; the first-run screen needs it signed out).
    ("GET", "/api/auth/first-run"),
    // Must answer when Postgres (and so every session check) is down (SPEC §5); it names
    // blockers and breaker scopes, never a secret or a user, but its blockers' messages name
    // bots, broker accounts and an account's day PnL (docs/architecture.md, known limits).
    ("GET", "/api/system/status"),
];

/// What an admin or operator without 2FA may still do: enroll, see who they are, sign out.
pub const ENROLLMENT_ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/auth/2fa/setup"),
    ("POST", "/api/auth/2fa/confirm"),
    ("GET", "/api/auth/me"),
    ("POST", "/api/auth/logout"),
];

/// Actions that need a fresh 2FA verification (login's second step, enrollment's confirm or
/// `POST /api/auth/step-up`) within the step-up window: who may act, tokens, account risk, and
/// new backup codes (a recovery change re-authenticates with an existing factor, not the
/// password alone: the new codes would pass every step-up).
/// LIVE promotion, a LIVE kill-and-flatten, releasing the kill switch and turning trading on
/// also need one, decided by their bodies in their handlers (stopping risk never does).
pub const STEP_UP_ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/users"),
    ("PATCH", "/api/users/{id}"),
    ("POST", "/api/service-tokens"),
    ("PUT", "/api/account-risk/{broker}/{account}"),
    ("POST", "/api/account-risk/{broker}/{account}/rearm"),
    ("POST", "/api/auth/2fa/backup-codes"),
];

fn listed(list: &[(&str, &str)], method: &Method, path: &str) -> bool {
    list.iter()
        .any(|(m, p)| *m == method.as_str() && *p == path)
}

/// A signed-in user's second-factor facts.
#[derive(Clone, Debug)]
pub struct SecondFactorFacts {
    pub role: Role,
    pub enrolled: bool,
    /// `Some(created_at)` for the first admin (the oldest account, role admin).
    pub first_admin_since: Option<DateTime<Utc>>,
    /// The last 2FA verification of this session.
    pub verified_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Copy, Debug)]
pub struct SecondFactorRules {
    pub first_admin_grace: Duration,
    pub step_up_window: Duration,
}

/// Why the second factor stops a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecondFactorGate {
    /// An admin or operator without 2FA (and no grace) on a route beyond enrollment.
    Enroll,
    /// A step-up route without a verification inside the window.
    StepUp,
}

/// The second-factor rule for one request on `method path` (the matched route template).
/// Whether this user may do nothing but enroll 2FA (and sign out): an admin or operator
/// without 2FA, outside the first admin's grace.
pub fn must_enroll(who: &SecondFactorFacts, rules: SecondFactorRules, now: DateTime<Utc>) -> bool {
    let in_grace = who
        .first_admin_since
        .is_some_and(|since| now < since + rules.first_admin_grace);
    who.role >= Role::Operator && !who.enrolled && !in_grace
}

pub fn second_factor(
    method: &Method,
    path: &str,
    who: &SecondFactorFacts,
    rules: SecondFactorRules,
    now: DateTime<Utc>,
) -> Result<(), SecondFactorGate> {
    if must_enroll(who, rules, now) && !listed(ENROLLMENT_ROUTES, method, path) {
        return Err(SecondFactorGate::Enroll);
    }
    let verified_recently = who
        .verified_at
        .is_some_and(|at| at > now - rules.step_up_window);
    if listed(STEP_UP_ROUTES, method, path) && !verified_recently {
        return Err(SecondFactorGate::StepUp);
    }
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    Public,
    Protected {
        /// Minimum role of a session; `None`: sessions are refused.
        session: Option<Role>,
        /// Scopes a service token may hold to pass (any one; empty = any token);
        /// `None`: tokens are refused.
        token_scopes: Option<Vec<String>>,
    },
}

impl Access {
    pub fn session(role: Role) -> Self {
        Access::Protected {
            session: Some(role),
            token_scopes: None,
        }
    }

    pub fn token(scopes: &[&str]) -> Self {
        Access::Protected {
            session: None,
            token_scopes: Some(scopes.iter().map(|s| (*s).to_owned()).collect()),
        }
    }

    /// The default for an undeclared route.
    pub fn default_for(method: &Method) -> Self {
        if method == Method::GET || method == Method::HEAD {
            Access::session(Role::Viewer)
        } else {
            Access::session(Role::Admin)
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct AccessPolicy {
    routes: HashMap<(Method, String), Access>,
    scopes: BTreeSet<String>,
}

fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> Vec<(Method, &mut utoipa::openapi::path::Operation)> {
    [
        (Method::GET, item.get.as_mut()),
        (Method::POST, item.post.as_mut()),
        (Method::PUT, item.put.as_mut()),
        (Method::PATCH, item.patch.as_mut()),
        (Method::DELETE, item.delete.as_mut()),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.map(|op| (m, op)))
    .collect()
}

impl AccessPolicy {
    /// Reads every operation's declared security from the spec (filling in the default where
    /// none is declared, so the document tells the truth) and adds the two security schemes.
    /// Panics at start-up on a declaration it cannot enforce (an unknown role or scheme).
    pub fn from_openapi(spec: &mut OpenApi, session_cookie: &str) -> Self {
        let mut policy = AccessPolicy::default();
        for (path, item) in spec.paths.paths.iter_mut() {
            if !path.starts_with("/api/") {
                continue;
            }
            for (method, op) in operations(item) {
                let public = PUBLIC
                    .iter()
                    .any(|(m, p)| *m == method.as_str() && *p == path.as_str());
                let access = if public {
                    op.security = Some(vec![SecurityRequirement::default()]);
                    Access::Public
                } else {
                    match &op.security {
                        Some(reqs) if !reqs.is_empty() => parse(reqs, &method, path),
                        _ => {
                            let access = Access::default_for(&method);
                            op.security = Some(requirements(&access));
                            access
                        }
                    }
                };
                if matches!(access, Access::Protected { .. }) {
                    declare_guard_errors(op);
                }
                policy.declare(method, path, access);
            }
        }
        let components = spec.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SESSION_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                session_cookie,
                "Browser session (login, then 2FA when enabled). Scopes name the minimum role. \
                 State-changing requests also need the `x-csrf-token` header.",
            ))),
        );
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.description = Some(
            "Service token of an internal writer; scopes name the accepted token scopes.".into(),
        );
        components.add_security_scheme(TOKEN_SCHEME, SecurityScheme::Http(bearer));
        policy
    }

    /// Declares (or overrides) the access of one route.
    pub fn declare(&mut self, method: Method, path: &str, access: Access) {
        if let Access::Protected {
            token_scopes: Some(scopes),
            ..
        } = &access
        {
            self.scopes.extend(scopes.iter().cloned());
        }
        self.routes.insert((method, path.to_owned()), access);
    }

    /// The access rule of a matched route; undeclared routes get the default (deny-leaning).
    pub fn lookup(&self, method: &Method, path: &str) -> Access {
        // axum answers HEAD with the GET handler, so it gets the GET rule.
        let method = if method == Method::HEAD {
            Method::GET
        } else {
            method.clone()
        };
        self.routes
            .get(&(method.clone(), path.to_owned()))
            .cloned()
            .unwrap_or_else(|| Access::default_for(&method))
    }

    /// Every scope some route accepts: the only scopes a new service token may carry.
    pub fn known_scopes(&self) -> &BTreeSet<String> {
        &self.scopes
    }
}

fn parse(reqs: &[SecurityRequirement], method: &Method, path: &str) -> Access {
    let mut session = None;
    let mut token_scopes = None;
    for req in reqs {
        let value = serde_json::to_value(req).unwrap_or_default();
        let Some(map) = value.as_object() else {
            continue;
        };
        for (scheme, scopes) in map {
            let scopes: Vec<String> = scopes
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            match scheme.as_str() {
                SESSION_SCHEME => {
                    let role = match scopes.as_slice() {
                        [] => Role::Viewer,
                        [one] => Role::parse(one).unwrap_or_else(|| {
                            panic!("{method} {path}: unknown role `{one}` in security")
                        }),
                        _ => panic!("{method} {path}: name one minimum role for `session`"),
                    };
                    session = Some(role);
                }
                TOKEN_SCHEME => token_scopes = Some(scopes),
                other => panic!("{method} {path}: unknown security scheme `{other}`"),
            }
        }
    }
    if session.is_none() && token_scopes.is_none() {
        // `security(())` alone would make a route public; only PUBLIC may be.
        return Access::default_for(method);
    }
    Access::Protected {
        session,
        token_scopes,
    }
}

/// The guard answers for every protected route before its handler runs: declared in the
/// operation (where the handler did not already describe them) so clients see both.
fn declare_guard_errors(op: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
                    .build(),
            )
            .build()
    };
    let responses = &mut op.responses.responses;
    responses.entry("401".into()).or_insert_with(|| {
        error(
            "`UNAUTHENTICATED`: no session (or service token), or it expired; \
             `TWO_FACTOR_REQUIRED`: an admin or operator who has not enrolled 2FA, or (step-up \
             actions) no 2FA verification within the step-up window",
        )
        .into()
    });
    responses.entry("403".into()).or_insert_with(|| {
        error(
            "`FORBIDDEN`: the role or token scope is not enough, or (state-changing requests) \
             the CSRF or same-origin check failed",
        )
        .into()
    });
}

fn requirements(access: &Access) -> Vec<SecurityRequirement> {
    match access {
        Access::Public => vec![SecurityRequirement::default()],
        Access::Protected {
            session,
            token_scopes,
        } => {
            let mut out = Vec::new();
            if let Some(role) = session {
                out.push(SecurityRequirement::new(SESSION_SCHEME, [role.as_str()]));
            }
            if let Some(scopes) = token_scopes {
                out.push(SecurityRequirement::new(TOKEN_SCHEME, scopes.clone()));
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undeclared_routes_default_to_deny_leaning_rules() {
        let mut policy = AccessPolicy::default();
        assert_eq!(
            policy.lookup(&Method::GET, "/api/x"),
            Access::session(Role::Viewer)
        );
        assert_eq!(
            policy.lookup(&Method::POST, "/api/x"),
            Access::session(Role::Admin)
        );
        assert_eq!(
            policy.lookup(&Method::DELETE, "/api/x"),
            Access::session(Role::Admin)
        );
        policy.declare(Method::GET, "/api/w", Access::token(&["traces:write"]));
        assert_eq!(
            policy.lookup(&Method::HEAD, "/api/w"),
            Access::token(&["traces:write"])
        );
        assert!(policy.known_scopes().contains("traces:write"));
    }

    /// A fixed instant (the policy takes time as an argument).
    fn at_noon() -> DateTime<Utc> {
        "2026-12-03T12:00:00Z".parse().unwrap()
    }

    fn facts(role: Role, enrolled: bool) -> SecondFactorFacts {
        SecondFactorFacts {
            role,
            enrolled,
            first_admin_since: None,
            verified_at: None,
        }
    }

    const RULES: SecondFactorRules = SecondFactorRules {
        first_admin_grace: Duration::hours(24),
        step_up_window: Duration::minutes(10),
    };

    #[test]
    fn privileged_users_without_2fa_may_only_enroll() {
        let now = at_noon();
        let get = Method::GET;
        let post = Method::POST;
        for role in [Role::Operator, Role::Admin] {
            let who = facts(role, false);
            let gate = |m: &Method, p: &str| second_factor(m, p, &who, RULES, now);
            assert_eq!(gate(&get, "/api/bots"), Err(SecondFactorGate::Enroll));
            assert_eq!(
                gate(&post, "/api/bots/{id}/start"),
                Err(SecondFactorGate::Enroll)
            );
            assert_eq!(gate(&post, "/api/users"), Err(SecondFactorGate::Enroll));
            for (m, p) in ENROLLMENT_ROUTES {
                let m = Method::from_bytes(m.as_bytes()).unwrap();
                assert_eq!(gate(&m, p), Ok(()), "{m} {p}");
            }
            assert_eq!(
                second_factor(&get, "/api/bots", &facts(role, true), RULES, now),
                Ok(())
            );
        }
        // Viewers are not held to it.
        assert_eq!(
            second_factor(&get, "/api/bots", &facts(Role::Viewer, false), RULES, now),
            Ok(())
        );
    }

    #[test]
    fn the_first_admin_grace_runs_from_its_creation() {
        let now = at_noon();
        let mut who = facts(Role::Admin, false);
        who.first_admin_since = Some(now - Duration::hours(23));
        assert_eq!(
            second_factor(&Method::GET, "/api/bots", &who, RULES, now),
            Ok(())
        );
        // Step-up actions need a verification, which needs 2FA, even inside the grace.
        assert_eq!(
            second_factor(&Method::POST, "/api/service-tokens", &who, RULES, now),
            Err(SecondFactorGate::StepUp)
        );
        who.first_admin_since = Some(now - Duration::hours(24));
        assert_eq!(
            second_factor(&Method::GET, "/api/bots", &who, RULES, now),
            Err(SecondFactorGate::Enroll)
        );
    }

    #[test]
    fn step_up_routes_need_a_verification_inside_the_window() {
        let now = at_noon();
        let mut who = facts(Role::Admin, true);
        for (m, p) in STEP_UP_ROUTES {
            let m = Method::from_bytes(m.as_bytes()).unwrap();
            who.verified_at = None;
            assert_eq!(
                second_factor(&m, p, &who, RULES, now),
                Err(SecondFactorGate::StepUp)
            );
            who.verified_at = Some(now - Duration::minutes(10));
            assert_eq!(
                second_factor(&m, p, &who, RULES, now),
                Err(SecondFactorGate::StepUp)
            );
            who.verified_at = Some(now - Duration::minutes(9));
            assert_eq!(second_factor(&m, p, &who, RULES, now), Ok(()));
        }
        who.verified_at = None;
        assert_eq!(
            second_factor(&Method::GET, "/api/users", &who, RULES, now),
            Ok(())
        );
    }

    #[test]
    fn declarations_are_read_from_the_spec_and_defaults_written_back() {
        use utoipa::openapi::{
            HttpMethod, OpenApiBuilder, PathsBuilder,
            path::{OperationBuilder, PathItem},
        };
        let op = |security: Option<Vec<SecurityRequirement>>| {
            let mut b = OperationBuilder::new();
            if let Some(s) = security {
                b = b.securities(Some(s));
            }
            b.build()
        };
        let mut spec = OpenApiBuilder::new()
            .paths(
                PathsBuilder::new()
                    .path(
                        "/api/a",
                        PathItem::new(
                            HttpMethod::Post,
                            op(Some(vec![SecurityRequirement::new(
                                SESSION_SCHEME,
                                ["operator"],
                            )])),
                        ),
                    )
                    .path("/api/b", PathItem::new(HttpMethod::Post, op(None)))
                    .path("/api/auth/login", PathItem::new(HttpMethod::Post, op(None)))
                    .path(
                        "/api/c",
                        PathItem::new(
                            HttpMethod::Post,
                            op(Some(vec![SecurityRequirement::new(
                                TOKEN_SCHEME,
                                ["traces:write"],
                            )])),
                        ),
                    ),
            )
            .build();
        let policy = AccessPolicy::from_openapi(&mut spec, "__Host-tp_session");
        assert_eq!(
            policy.lookup(&Method::POST, "/api/a"),
            Access::session(Role::Operator)
        );
        assert_eq!(
            policy.lookup(&Method::POST, "/api/b"),
            Access::session(Role::Admin)
        );
        assert_eq!(
            policy.lookup(&Method::POST, "/api/auth/login"),
            Access::Public
        );
        assert_eq!(
            policy.lookup(&Method::POST, "/api/c"),
            Access::token(&["traces:write"])
        );
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(
            json["paths"]["/api/b"]["post"]["security"],
            serde_json::json!([{ "session": ["admin"] }])
        );
        assert!(json["components"]["securitySchemes"]["service_token"].is_object());
    }
}
