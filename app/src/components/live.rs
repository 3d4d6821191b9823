//! The browser's end of `WS /api/v1/ws/job-queue`: one socket per page that wants live data,
//! authenticated by the session cookie, reopened a second after it drops (and then the page
//! reloads its data, since events may have been missed). On the server this does nothing:
//! pages render their data first, and the socket takes over in the browser.

#[cfg(not(feature = "ssr"))]
use leptos::prelude::*;
use serde_json::Value;

/// What a page hears from the socket.
#[derive(Debug, Clone, PartialEq)]
pub enum Live {
    /// Connected (first time or again): reload what may have been missed, subscribe again.
    Opened,
    /// Any server message (`job`, `log`, `resync`, …) as JSON.
    Message(Value),
}

/// A handle to send client messages (`subscribe_logs` …) while the socket is open. Exists
/// only in the browser: on the server nothing is opened and no storage is made (local
/// storage would be dropped on another thread of the server's runtime, which panics).
#[derive(Clone, Copy)]
pub struct LiveSocket {
    #[cfg(not(feature = "ssr"))]
    socket: StoredValue<Option<web_sys::WebSocket>, LocalStorage>,
}

impl LiveSocket {
    /// Sends `msg` if the socket is open (pages send their subscriptions again on `Opened`).
    pub fn send(&self, msg: &Value) {
        #[cfg(not(feature = "ssr"))]
        self.socket.with_value(|s| {
            if let Some(ws) = s {
                let _ = ws.send_with_str(&msg.to_string());
            }
        });
        #[cfg(feature = "ssr")]
        let _ = msg;
    }
}

/// Opens the socket for this page (in the browser) and calls `on` for what it hears, with
/// the socket to answer on (e.g. to subscribe to a job's output on `Opened`).
pub fn use_live(on: impl Fn(LiveSocket, Live) + 'static) {
    #[cfg(not(feature = "ssr"))]
    {
        let handle = LiveSocket {
            socket: StoredValue::new_local(None),
        };
        browser::open(handle, std::rc::Rc::new(move |msg| on(handle, msg)));
    }
    #[cfg(feature = "ssr")]
    let _ = on;
}

/// Calls `reload` when jobs change (a `job` or `resync` message), at most once per `every`:
/// a burst of events makes one reload, `every` after the first. On each (re)connect the
/// server's `hello` says which event comes next; `seen` gives the sequence number the data
/// on the page was read at (`JobsPage::seq`), and when they differ something happened in
/// between, so the page reloads. When they match (the usual first connect after the server
/// rendered the page) nothing is reloaded: the page keeps the server's markup, no flash.
pub fn reload_on_job_changes(
    reload: impl Fn() + Copy + 'static,
    every: std::time::Duration,
    seen: impl Fn() -> Option<u64> + 'static,
) {
    #[cfg(not(feature = "ssr"))]
    {
        let pending = StoredValue::new(false);
        use_live(move |_, msg| {
            let relevant = match &msg {
                Live::Opened => false,
                Live::Message(v) => match v["type"].as_str() {
                    Some("job" | "resync") => true,
                    Some("hello") => {
                        let next = v["next_seq"].as_u64();
                        next.is_none() || next != seen()
                    }
                    _ => false,
                },
            };
            if relevant && !pending.get_value() {
                pending.set_value(true);
                set_timeout(
                    move || {
                        pending.set_value(false);
                        reload();
                    },
                    every,
                );
            }
        });
    }
    #[cfg(feature = "ssr")]
    let _ = (reload, every, seen);
}

#[cfg(not(feature = "ssr"))]
mod browser {
    use super::*;
    use std::rc::Rc;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;

    pub(super) fn open(handle: LiveSocket, on: Rc<dyn Fn(Live)>) {
        on_cleanup(move || {
            // Closing fires `onclose`, which finds the page gone (below) and stops.
            let _ = handle.socket.try_update_value(|s| {
                if let Some(ws) = s.take() {
                    let _ = ws.close();
                }
            });
        });
        connect(handle, on);
    }

    /// Whether the page that opened the socket is still shown (its storage not disposed).
    fn alive(handle: LiveSocket) -> bool {
        handle.socket.try_with_value(|_| ()).is_some()
    }

    fn url() -> Option<String> {
        let loc = web_sys::window()?.location();
        let scheme = if loc.protocol().ok()? == "https:" {
            "wss"
        } else {
            "ws"
        };
        Some(format!("{scheme}://{}/api/v1/ws/job-queue", loc.host().ok()?))
    }

    fn connect(handle: LiveSocket, on: Rc<dyn Fn(Live)>) {
        if !alive(handle) {
            return;
        }
        let Some(ws) = url().and_then(|u| web_sys::WebSocket::new(&u).ok()) else {
            return;
        };
        let on_open = {
            let on = on.clone();
            Closure::<dyn Fn()>::new(move || on(Live::Opened))
        };
        let on_message = {
            let on = on.clone();
            Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
                if let Some(text) = e.data().as_string() {
                    if let Ok(v) = serde_json::from_str::<Value>(&text) {
                        on(Live::Message(v));
                    }
                }
            })
        };
        let on_close = {
            let on = on.clone();
            Closure::<dyn Fn()>::new(move || {
                let on = on.clone();
                // Try again in a second, for as long as the page is shown.
                set_timeout(move || connect(handle, on), std::time::Duration::from_secs(1));
            })
        };
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        // The socket lives as long as the page; its handlers with it.
        on_open.forget();
        on_message.forget();
        on_close.forget();
        let _ = handle.socket.try_set_value(Some(ws));
    }
}
