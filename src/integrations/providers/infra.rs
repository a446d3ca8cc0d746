//! Infrastructure: Redis (AUTH if configured, then PING over RESP with a time box) and the
//! Discord webhook (a GET on the webhook URL, which never posts).

use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
};
use url::Url;

use super::{ProviderClient, excerpt};
use crate::domain::provider::Outcome;
use crate::integrations::{
    http::{CallKind, Request, bad_response, classify_status},
    outcome::{Failure, codes},
};

pub async fn verify_discord(c: &ProviderClient) -> Result<String, Failure> {
    // The webhook URL's path (id/token) on the configured host (the official one or an override).
    let hook = Url::parse(c.secret("DISCORD_WEBHOOK_URL")?.expose())
        .map_err(|_| bad_response("DISCORD_WEBHOOK_URL is not a URL"))?;
    let mut url = c.base()?.clone();
    url.set_path(hook.path());
    url.set_query(None);
    let req = Request::get("verify", url, CallKind::Verify);
    c.http
        .call(req, |r| {
            let b = r.json().unwrap_or(Value::Null);
            // 401 code 50027 (bad token) and 404 code 10015 (deleted webhook) are both
            // credentials the operator must replace.
            if matches!(r.status, 401 | 404) && matches!(b["code"].as_i64(), Some(50027 | 10015)) {
                return Err(Failure {
                    outcome: Outcome::InvalidCredentials,
                    code: codes::INVALID_CREDENTIALS,
                    message: format!("HTTP {}: {}", r.status, excerpt(c, &r.body)),
                    http_status: Some(r.status),
                    retry_after: None,
                });
            }
            classify_status(r, c.http.redactor())?;
            match b["type"].as_i64() {
                Some(1) => Ok("incoming webhook valid".to_owned()),
                Some(t) => Err(bad_response(&format!("webhook type {t}, not incoming (1)"))),
                None => Err(bad_response("webhook has no `type`")),
            }
        })
        .await
}

pub async fn verify_redis(c: &ProviderClient) -> Result<String, Failure> {
    let url = c.base()?.clone();
    // Credentials always come from REDIS_URL, even when REDIS_BASE_URL points elsewhere.
    let creds = Url::parse(c.secret("REDIS_URL")?.expose()).ok();
    let password = creds.as_ref().and_then(|u| u.password().map(str::to_owned));
    let user = creds
        .as_ref()
        .map(|u| u.username().to_owned())
        .filter(|u| !u.is_empty());
    c.http
        .guard("verify", CallKind::Verify, ping(url, user, password))
        .await
}

async fn ping(url: Url, user: Option<String>, password: Option<String>) -> Result<String, Failure> {
    if url.scheme() != "redis" {
        return Err(Failure::new(
            Outcome::Unverifiable,
            codes::UNVERIFIABLE,
            format!(
                "scheme {}:// is not supported by the verify probe (plain redis:// only)",
                url.scheme()
            ),
        ));
    }
    let host = url.host_str().unwrap_or("127.0.0.1").to_owned();
    let port = url.port().unwrap_or(6379);
    let stream = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| {
            Failure::new(
                Outcome::Unreachable,
                codes::UNREACHABLE,
                format!("connect: {e}"),
            )
        })?;
    let mut stream = BufReader::new(stream);
    if let Some(pass) = password {
        let args: Vec<&str> = match &user {
            Some(u) => vec!["AUTH", u, &pass],
            None => vec!["AUTH", &pass],
        };
        let reply = command(&mut stream, &args).await?;
        if !reply.starts_with("+OK") {
            return Err(resp_error(&reply));
        }
    }
    let reply = command(&mut stream, &["PING"]).await?;
    if reply.starts_with("+PONG") {
        Ok("PONG".to_owned())
    } else {
        Err(resp_error(&reply))
    }
}

async fn command(stream: &mut BufReader<TcpStream>, args: &[&str]) -> Result<String, Failure> {
    let mut out = format!("*{}\r\n", args.len());
    for a in args {
        out.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    let io = |e: std::io::Error| {
        Failure::new(Outcome::Unreachable, codes::UNREACHABLE, format!("io: {e}"))
    };
    stream
        .get_mut()
        .write_all(out.as_bytes())
        .await
        .map_err(io)?;
    let mut line = String::new();
    stream.read_line(&mut line).await.map_err(io)?;
    if line.is_empty() {
        return Err(Failure::new(
            Outcome::Unreachable,
            codes::UNREACHABLE,
            "connection closed",
        ));
    }
    Ok(line.trim_end().to_owned())
}

fn resp_error(reply: &str) -> Failure {
    if reply.starts_with("-NOAUTH")
        || reply.starts_with("-WRONGPASS")
        || reply.contains("invalid password")
    {
        Failure::new(
            Outcome::InvalidCredentials,
            codes::INVALID_CREDENTIALS,
            reply.to_owned(),
        )
    } else if reply.starts_with('-') {
        Failure::new(
            Outcome::ProviderError,
            codes::BAD_RESPONSE,
            reply.to_owned(),
        )
    } else {
        bad_response("reply is not RESP")
    }
}
