//! A node's own network namespace, reached from the host through a veth pair, with an
//! nftables table ready for partitions (root only).
//!
//! ```text
//!  host: veth hfl<ID>h 10.213.X.1/30 ═══ netns hflab<ID>: veth hfl<ID>n 10.213.X.2/30, lo
//!                                            nft table inet holdfast_lab
//!                                              chains input, output (policy accept)
//! ```
//!
//! A partition is a rule in those chains, e.g. `ip netns exec hflab<ID> nft add rule inet
//! holdfast_lab input drop` (both ways need input and output; one way, one of them),
//! undone with `nft flush chain inet holdfast_lab input`. `tc netem` does not work on
//! these kernels (see ../shared/LAB.md), so delays go through the fault proxy.

use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::process::Command;

/// The nftables table made in each namespace.
pub const TABLE: &str = "holdfast_lab";

/// A namespace as made, so `lab down` can remove it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Namespace {
    pub name: String,
    pub host_veth: String,
    pub node_veth: String,
    pub host_addr: Ipv4Addr,
    pub node_addr: Ipv4Addr,
}

/// Why namespaces cannot be made here, or `None` when they can.
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("--netns needs root (ip netns, veth, nft)".to_string());
    }
    for tool in ["ip", "nft"] {
        if Command::new(tool).arg("-V").output().is_err() {
            return Some(format!(
                "--netns needs `{tool}` (apt-get install iproute2 nftables)"
            ));
        }
    }
    None
}

impl Namespace {
    /// Names and addresses for lab `id`: a /30 of 10.213.0.0/16 picked by the id, so
    /// labs of different ids rarely share one.
    pub fn plan(id: u32) -> Namespace {
        let subnet = (id % (1 << 14)) * 4;
        let [_, _, high, low] = subnet.to_be_bytes();
        Namespace {
            name: format!("hflab{id}"),
            host_veth: format!("hfl{id}h"),
            node_veth: format!("hfl{id}n"),
            host_addr: Ipv4Addr::new(10, 213, high, low + 1),
            node_addr: Ipv4Addr::new(10, 213, high, low + 2),
        }
    }

    /// Creates the namespace, the veth pair, the addresses and the nftables table. On
    /// an error, whatever was made is removed again.
    pub fn create(&self) -> Result<(), String> {
        let made = self.create_steps();
        if made.is_err() {
            self.remove();
        }
        made
    }

    fn create_steps(&self) -> Result<(), String> {
        let (ns, host, node) = (&self.name, &self.host_veth, &self.node_veth);
        let host_cidr = format!("{}/30", self.host_addr);
        let node_cidr = format!("{}/30", self.node_addr);
        run("ip", &["netns", "add", ns])?;
        run(
            "ip",
            &["link", "add", host, "type", "veth", "peer", "name", node],
        )?;
        run("ip", &["link", "set", node, "netns", ns])?;
        run("ip", &["addr", "add", &host_cidr, "dev", host])?;
        run("ip", &["link", "set", host, "up"])?;
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", ns];
            all.extend_from_slice(args);
            run("ip", &all)
        };
        inside(&["ip", "addr", "add", &node_cidr, "dev", node])?;
        inside(&["ip", "link", "set", node, "up"])?;
        inside(&["ip", "link", "set", "lo", "up"])?;
        inside(&["nft", "add", "table", "inet", TABLE])?;
        for (chain, hook) in [("input", "input"), ("output", "output")] {
            let spec = format!("{{ type filter hook {hook} priority 0; policy accept; }}");
            inside(&["nft", "add", "chain", "inet", TABLE, chain, &spec])?;
        }
        Ok(())
    }

    /// Removes the veth pair (both ends go together) and the namespace; what is already
    /// gone is no error.
    pub fn remove(&self) {
        let _ = run("ip", &["link", "del", &self.host_veth]);
        let _ = run("ip", &["netns", "del", &self.name]);
    }

    /// The command prefix that runs a program inside the namespace.
    pub fn exec_prefix(&self) -> Vec<String> {
        ["netns", "exec", &self.name].map(String::from).to_vec()
    }
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program} {}: {e}", args.join(" ")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_linux_limits_and_addresses_share_a_slash_30() {
        let ns = Namespace::plan(4_194_303);
        assert!(ns.host_veth.len() <= 15, "{}", ns.host_veth);
        assert!(ns.node_veth.len() <= 15);
        assert_eq!(ns.node_veth, "hfl4194303n");
        let [_, _, h1, l1] = ns.host_addr.octets();
        let [_, _, h2, l2] = ns.node_addr.octets();
        assert_eq!(
            (h1, l1 / 4),
            (h2, l2 / 4),
            "{} {}",
            ns.host_addr,
            ns.node_addr
        );
        assert_eq!(l1 % 4, 1);
        assert_ne!(Namespace::plan(1).host_addr, Namespace::plan(2).host_addr);
    }
}
