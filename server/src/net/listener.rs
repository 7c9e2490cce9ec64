//! Accepting connections on one core.

use super::connection;
use crate::core::Core;
use glommio::net::TcpListener;
use std::rc::Rc;
use std::sync::atomic::Ordering;

pub fn bind(addr: &str) -> std::io::Result<TcpListener> {
    // glommio binds with SO_REUSEPORT: every core binds the same address and the kernel
    // balances new connections between them.
    TcpListener::bind(addr).map_err(std::io::Error::from)
}

pub async fn accept_loop(core: Rc<Core>, listener: TcpListener) {
    loop {
        let stream = match listener.accept().await {
            Ok(stream) => stream,
            Err(err) => {
                // Out of file descriptors and the like: keep serving the connections we
                // have and try again shortly, as Redis does.
                eprintln!("holdfast: accept failed on core {}: {err}", core.id);
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        core.stats.borrow_mut().total_connections_received += 1;
        let maxclients = core.settings.borrow().maxclients as usize;
        let connected = core
            .global
            .connected_clients
            .fetch_add(1, Ordering::Relaxed)
            + 1;
        if connected > maxclients {
            core.global
                .connected_clients
                .fetch_sub(1, Ordering::Relaxed);
            core.stats.borrow_mut().rejected_connections += 1;
            glommio::spawn_local(connection::refuse(
                stream,
                "ERR max number of clients reached",
            ))
            .detach();
            continue;
        }
        glommio::spawn_local(connection::serve(core.clone(), stream)).detach();
    }
}
