//! A websocket echo server on 127.0.0.1 (tungstenite, std threads).

use std::net::TcpListener;
use std::sync::mpsc::{channel, Receiver};
use std::sync::Mutex;

use tungstenite::Message;

use super::LIMIT;

/// What the echo server saw.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    /// The upgrade request's path.
    Path(String),
    /// The client closed (a CLOSE frame or the TCP connection).
    Closed,
    /// The server dropped the connection (`/drop-after/N`).
    Dropped,
    /// The server has echoed this many messages (`/report-after/N`).
    Echoed(usize),
}

/// A websocket echo server on 127.0.0.1 (a std thread per connection): echoes text and
/// binary messages; `/big/N` first sends one binary message of N bytes; `/drop-after/N`
/// echoes N messages, then drops the TCP connection without a closing handshake;
/// `/report-after/N` reports [`Seen::Echoed`] once it has echoed N messages.
pub struct EchoServer {
    pub port: u16,
    seen: Mutex<Receiver<Seen>>,
}

impl EchoServer {
    pub fn start() -> EchoServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().unwrap().port();
        let (tell, seen) = channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let tell = tell.clone();
                std::thread::spawn(move || {
                    let mut path = String::new();
                    // tungstenite's callback type fixes the error type.
                    #[allow(clippy::result_large_err)]
                    let callback = |request: &tungstenite::handshake::server::Request, response| {
                        path = request.uri().path().to_string();
                        Ok(response)
                    };
                    let Ok(mut socket) = tungstenite::accept_hdr(stream, callback) else {
                        return;
                    };
                    let _ = tell.send(Seen::Path(path.clone()));
                    if let Some(n) = path.strip_prefix("/big/") {
                        let n: usize = n.parse().unwrap();
                        let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
                        if socket.send(Message::binary(data)).is_err() {
                            return;
                        }
                    }
                    let count = |prefix: &str| -> Option<usize> {
                        path.strip_prefix(prefix).map(|n| n.parse().unwrap())
                    };
                    let mut left = count("/drop-after/");
                    let report = count("/report-after/");
                    let mut echoed = 0;
                    loop {
                        match socket.read() {
                            Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                                if socket.send(message).is_err() {
                                    break;
                                }
                                echoed += 1;
                                if report == Some(echoed) {
                                    let _ = tell.send(Seen::Echoed(echoed));
                                }
                                if let Some(left) = left.as_mut() {
                                    *left -= 1;
                                    if *left == 0 {
                                        // Mid-stream, no CLOSE frame: the TCP connection
                                        // just goes away.
                                        drop(socket);
                                        let _ = tell.send(Seen::Dropped);
                                        return;
                                    }
                                }
                            }
                            Ok(Message::Close(_)) | Err(_) => break,
                            Ok(_) => {}
                        }
                    }
                    // Flush tungstenite's CLOSE reply, if any.
                    while socket.flush().is_ok() && socket.read().is_ok() {}
                    let _ = tell.send(Seen::Closed);
                });
            }
        });
        EchoServer {
            port,
            seen: Mutex::new(seen),
        }
    }

    pub fn next(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .recv_timeout(LIMIT)
            .expect("the echo server saw nothing in time")
    }
}
