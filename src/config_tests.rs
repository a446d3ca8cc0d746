use super::*;
use base64::{Engine, engine::general_purpose::STANDARD};

#[test]
fn cidrs_parse_and_match() {
    let net: Cidr = "10.1.0.0/16".parse().unwrap();
    assert!(net.contains("10.1.200.3".parse().unwrap()));
    assert!(
        net.contains("::ffff:10.1.0.9".parse().unwrap()),
        "v4-mapped peers"
    );
    assert!(!net.contains("10.2.0.1".parse().unwrap()));
    let one: Cidr = "::1".parse().unwrap();
    assert!(one.contains("::1".parse().unwrap()));
    assert!(!one.contains("127.0.0.1".parse().unwrap()));
    let all: Cidr = "0.0.0.0/0".parse().unwrap();
    assert!(all.contains("192.0.2.1".parse().unwrap()));
    assert!("10.0.0.0/33".parse::<Cidr>().is_err());
    assert!("example.com".parse::<Cidr>().is_err());
}

#[test]
fn durations_parse_with_units() {
    assert_eq!(parse_duration("0"), Ok(chrono::Duration::zero()));
    assert_eq!(parse_duration("90s"), Ok(chrono::Duration::seconds(90)));
    assert_eq!(parse_duration("30m"), Ok(chrono::Duration::minutes(30)));
    assert_eq!(parse_duration(" 24h "), Ok(chrono::Duration::hours(24)));
    assert_eq!(parse_duration("7d"), Ok(chrono::Duration::days(7)));
    for bad in ["", "h", "12", "-1h", "1w", "1.5h", "99999999999d"] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
}

#[test]
fn secrets_never_print() {
    let s = Secret::new("hunter2");
    assert!(!format!("{s:?} {s}").contains("hunter2"));
    let k = EncKey::parse(Some(&"ab".repeat(32)));
    assert!(matches!(k, EncKey::Valid(_)));
    assert!(!format!("{k:?}").contains("abab"));
}

#[test]
fn enc_key_formats() {
    assert_eq!(EncKey::parse(None), EncKey::Missing);
    assert_eq!(EncKey::parse(Some("  ")), EncKey::Missing);
    assert!(matches!(
        EncKey::parse(Some(&STANDARD.encode([7u8; 32]))),
        EncKey::Valid(_)
    ));
    assert!(matches!(
        EncKey::parse(Some(&"0f".repeat(32))),
        EncKey::Valid(_)
    ));
    assert!(matches!(
        EncKey::parse(Some(&STANDARD.encode([7u8; 16]))),
        EncKey::Invalid(_)
    ));
    assert!(matches!(
        EncKey::parse(Some("not a key!")),
        EncKey::Invalid(_)
    ));
}

#[test]
fn urls_are_redacted() {
    assert_eq!(
        redact_url("postgres://u:secret@h:5432/db?sslmode=require&password=x"),
        "postgres://u:***@h:5432/db?sslmode=require&password=***"
    );
    assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
    assert_eq!(redact_url("garbage-with-secret"), "***");
}

#[derive(clap::Parser)]
struct Cli {
    #[command(flatten)]
    args: ConfigArgs,
}

#[test]
fn the_breakers_rule_is_configurable_and_defaults_to_specs() {
    use clap::Parser;
    let parse = |flags: &[&str]| {
        Cli::try_parse_from(std::iter::once("tradeplane").chain(flags.iter().copied()))
            .map(|cli| Config::from_args(cli.args).breaker)
    };
    let default = parse(&[]).unwrap();
    assert_eq!(
        (default.failure_threshold, default.window.as_secs()),
        (3, 30 * 60)
    );
    let set = parse(&[
        "--breaker-failures",
        "5",
        "--breaker-window-minutes",
        "10",
        "--breaker-cooldown-secs",
        "7",
    ])
    .unwrap();
    assert_eq!(
        (
            set.failure_threshold,
            set.window.as_secs(),
            set.cool_down.as_secs()
        ),
        (5, 600, 7)
    );
    for bad in [
        ["--breaker-failures", "0"],
        ["--breaker-window-minutes", "x"],
    ] {
        assert!(parse(&bad).is_err(), "{bad:?}");
    }
}

/// What `tradeplane serve` runs with when nothing is set: the session rules of
/// reference/security.md goal 7 (15 min idle, 12 h absolute), a 10-minute step-up window and
/// `Secure` cookies. Read from the flags' declared defaults (no environment changes those), then
/// the durations through `Config::from_args` with those values given (the tests' own
/// `AuthConfig::default()` would not notice a changed flag).
#[test]
fn the_served_session_rules_default_to_the_security_goals() {
    use clap::{CommandFactory, Parser};
    let command = Cli::command();
    let declared = |id: &str| -> String {
        let arg = command
            .get_arguments()
            .find(|a| a.get_id() == id)
            .unwrap_or_else(|| panic!("no flag {id}"));
        arg.get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect()
    };
    let defaults = [
        ("session_idle_minutes", "15"),
        ("session_absolute_hours", "12"),
        ("step_up_minutes", "10"),
        ("insecure_cookies", "0"),
    ];
    for (id, want) in defaults {
        assert_eq!(declared(id), want, "{id}");
    }
    let flags = [
        "tradeplane",
        "--session-idle-minutes",
        "15",
        "--session-absolute-hours",
        "12",
        "--step-up-minutes",
        "10",
    ];
    let auth = Config::from_args(Cli::try_parse_from(flags).unwrap().args).auth;
    assert_eq!(auth.session_idle, chrono::Duration::minutes(15));
    assert_eq!(auth.session_absolute, chrono::Duration::hours(12));
    assert_eq!(auth.step_up_window, chrono::Duration::minutes(10));
}
