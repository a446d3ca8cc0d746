use super::*;

fn event(code: &str, bot: Option<Uuid>) -> SystemEvent {
    SystemEvent {
        id: Uuid::now_v7(),
        created_at: DateTime::from_timestamp(1_795_000_000, 0).unwrap(),
        severity: Severity::Sev1,
        code: code.into(),
        message: format!("{code} happened @everyone"),
        bot_id: bot,
        provider_id: None,
        trace_id: TraceId::generate().to_string(),
        metadata: json!({}),
        node_id: None,
    }
}

fn alerter() -> (Alerter, Arc<AlertCounters>) {
    let counters = Arc::new(AlertCounters::default());
    (
        Alerter::new(AlertsConfig::default(), counters.clone()),
        counters,
    )
}

fn kinds(posts: &[(Post, u8)]) -> Vec<String> {
    posts
        .iter()
        .map(|(p, _)| match p {
            Post::One(e) => format!("one:{}", e.code),
            Post::Repeat { last, count } => format!("repeat:{}:{count}", last.code),
            Post::Summary { events, .. } => format!("summary:{events}"),
        })
        .collect()
}

#[test]
fn what_is_alertable() {
    let default = AlertRouting::default();
    assert!(alertable(&default, Severity::Sev1, "SUPERVISION_MELTDOWN"));
    assert!(alertable(&default, Severity::Sev2, "BOT_KILLED"));
    assert!(!alertable(
        &default,
        Severity::Sev2,
        "CIRCUIT_BREAKER_OPENED"
    ));
    assert!(!alertable(&default, Severity::Info, "KILL_SWITCH_RELEASED"));
    let sev2 = AlertRouting::new(&["SEV-2".to_owned()], false).unwrap();
    assert!(alertable(&sev2, Severity::Sev2, "CIRCUIT_BREAKER_OPENED"));
    assert!(!alertable(&sev2, Severity::Sev1, "SUPERVISION_MELTDOWN"));
    assert!(!alertable(&sev2, Severity::Info, "BOT_KILLED"));
}

#[test]
fn duplicates_fold_into_one_post_then_a_count_when_the_window_closes() {
    let (mut a, counters) = alerter();
    let t0 = Instant::now();
    let bot = Some(Uuid::now_v7());
    a.offer(event("BOT_KILLED", bot), t0);
    a.offer(event("BOT_KILLED", bot), t0 + Duration::from_secs(1));
    a.offer(event("BOT_KILLED", bot), t0 + Duration::from_secs(2));
    // Another bot is another alert.
    a.offer(event("BOT_KILLED", Some(Uuid::now_v7())), t0);
    let now = t0 + Duration::from_secs(3);
    let posts = a.due(now);
    assert_eq!(kinds(&posts), ["one:BOT_KILLED", "one:BOT_KILLED"]);
    assert_eq!(counters.stats().deduplicated, 2);
    assert!(a.due(now + Duration::from_secs(60)).is_empty());
    let after = t0 + Duration::from_secs(300);
    assert_eq!(kinds(&a.due(after)), ["repeat:BOT_KILLED:2"]);
    // The window is closed: the next one is a fresh alert.
    a.offer(event("BOT_KILLED", bot), after);
    assert_eq!(kinds(&a.due(after)), ["one:BOT_KILLED"]);
}

#[test]
fn over_the_budget_the_rest_is_one_summary_post() {
    let (mut a, counters) = alerter();
    let t0 = Instant::now();
    for i in 0..12 {
        a.offer(event(&format!("CODE_{i}"), None), t0);
    }
    let posts = a.due(t0);
    for _ in &posts {
        a.attempted(t0);
    }
    // 4 alerts and a summary of the other 8: 5 posts, the budget.
    assert_eq!(
        kinds(&posts),
        [
            "one:CODE_0",
            "one:CODE_1",
            "one:CODE_2",
            "one:CODE_3",
            "summary:8"
        ]
    );
    assert_eq!(counters.stats().coalesced, 8);
    let Post::Summary { lines, .. } = &posts[4].0 else {
        unreachable!()
    };
    assert_eq!(lines.len(), 8);
    assert!(lines[0].contains("CODE_4"));
    // The budget is spent: nothing more until the window slides.
    a.offer(event("LATER", None), t0 + Duration::from_secs(1));
    assert!(a.due(t0 + Duration::from_secs(9)).is_empty());
    assert_eq!(kinds(&a.due(t0 + Duration::from_secs(10))), ["one:LATER"]);
}

#[test]
fn failed_posts_are_retried_when_they_may_not_have_landed_then_dropped() {
    let failure = |outcome, status| Failure {
        http_status: status,
        ..Failure::new(outcome, "X", "x")
    };
    let throttled = Failure {
        retry_after: Some(Duration::from_millis(500)),
        ..failure(Outcome::RateLimited, Some(429))
    };
    let retry = |s: u64| AfterFailure::Retry(Duration::from_secs(s));
    assert_eq!(
        after_failure(&throttled, 0),
        AfterFailure::Retry(Duration::from_millis(500))
    );
    assert_eq!(after_failure(&throttled, 2), AfterFailure::Drop);
    let five_xx = failure(Outcome::ProviderError, Some(503));
    let no_answer = failure(Outcome::Unreachable, None);
    for f in [&five_xx, &no_answer] {
        let backoff: Vec<_> = (0..4).map(|n| after_failure(f, n)).collect();
        assert_eq!(backoff, [retry(1), retry(2), retry(4), AfterFailure::Drop]);
    }
    // Refused as sent: sending it again changes nothing.
    assert_eq!(
        after_failure(&failure(Outcome::ProviderError, Some(400)), 0),
        AfterFailure::Drop
    );
    assert_eq!(
        after_failure(&failure(Outcome::InvalidCredentials, Some(401)), 0),
        AfterFailure::Stop
    );
}

#[test]
fn a_429_pauses_and_retries_the_same_post_first() {
    let (mut a, _) = alerter();
    let t0 = Instant::now();
    a.offer(event("A", None), t0);
    a.offer(event("B", None), t0);
    let mut posts = a.due(t0);
    let (first, _) = posts.remove(0);
    a.attempted(t0);
    a.retry_later(first, 1, t0 + Duration::from_secs(2));
    assert!(a.due(t0 + Duration::from_secs(1)).is_empty());
    // B was due in the same batch but not sent: it waits behind A.
    a.requeue(posts.into_iter().rev());
    let again = a.due(t0 + Duration::from_secs(2));
    assert_eq!(kinds(&again), ["one:A", "one:B"]);
    assert_eq!(again[0].1, 1);
}

#[test]
fn content_fits_discord_and_names_the_event() {
    let mut ev = event("RISK_KILL_TRIGGER", Some(Uuid::now_v7()));
    let text = Post::One(ev.clone()).content(Duration::from_secs(300));
    assert!(text.contains("SEV-1 RISK_KILL_TRIGGER"));
    assert!(text.contains(&ev.trace_id));
    ev.message = "x".repeat(5000);
    let text = Post::One(ev.clone()).content(Duration::from_secs(300));
    assert_eq!(text.chars().count(), CONTENT_MAX_CHARS);
    let post = Post::One(ev.clone());
    assert_eq!(post.trace().as_str(), ev.trace_id);
}
