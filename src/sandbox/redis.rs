//! A RESP responder for the Redis verify probe: `AUTH` → `+OK`, `PING` → `+PONG`.

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};

pub async fn serve(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let _ = session(stream).await;
        });
    }
}

async fn session(stream: TcpStream) -> std::io::Result<()> {
    let mut stream = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let Some(n) = line
            .trim()
            .strip_prefix('*')
            .and_then(|n| n.parse::<usize>().ok())
        else {
            stream
                .get_mut()
                .write_all(b"-ERR protocol error\r\n")
                .await?;
            return Ok(());
        };
        let mut args = Vec::with_capacity(n);
        for _ in 0..n {
            line.clear();
            stream.read_line(&mut line).await?;
            line.clear();
            stream.read_line(&mut line).await?;
            args.push(line.trim_end().to_ascii_uppercase());
        }
        let reply: &[u8] = match args.first().map(String::as_str) {
            Some("PING") => b"+PONG\r\n",
            Some("AUTH") => b"+OK\r\n",
            _ => b"-ERR unknown command (sandbox)\r\n",
        };
        stream.get_mut().write_all(reply).await?;
    }
}
