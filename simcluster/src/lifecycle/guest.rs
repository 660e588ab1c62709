//! What the guest agent in a simulated VM reports about its OS (`guestOSInfo`, the answer
//! to qemu-guest-agent's `guest-get-osinfo`), guessed from the name of the boot disk's
//! image: a container disk's image, or the URL a DataVolume imports.
//!
//! The rule: an image whose name mentions a known distribution (fedora, ubuntu, debian,
//! centos, rhel, opensuse, windows) runs that OS with its guest agent, which connects one
//! transition delay after the VMI runs. CirrOS ships without a guest agent, and an image the
//! simulator does not recognise is taken to have none either: such a VMI never reports
//! `guestOSInfo` or `AgentConnected`, and its interfaces only what the domain knows.

use serde_json::{json, Value};

/// The OS of an image named `image`, when it runs a guest agent.
pub(super) fn os_info(image: &str) -> Option<Value> {
    let name = image.to_ascii_lowercase();
    let known = |needle: &str| name.contains(needle);
    let info = |id: &str,
                os: &str,
                pretty: &str,
                version: &str,
                version_id: &str,
                release: &str,
                kernel: &str| {
        json!({
            "id": id, "name": os, "prettyName": pretty, "version": version,
            "versionId": version_id, "kernelRelease": release, "kernelVersion": kernel,
            "machine": "x86_64",
        })
    };
    if known("cirros") {
        None
    } else if known("fedora") {
        Some(info(
            "fedora",
            "Fedora Linux",
            "Fedora Linux 42 (Cloud Edition)",
            "42 (Cloud Edition)",
            "42",
            "6.14.0-63.fc42.x86_64",
            "#1 SMP PREEMPT_DYNAMIC Mon Mar 24 19:53:37 UTC 2025",
        ))
    } else if known("ubuntu") {
        let (version_id, codename, release) = if known("22.04") || known("jammy") {
            ("22.04", "Jammy Jellyfish", "5.15.0-131-generic")
        } else {
            ("24.04", "Noble Numbat", "6.8.0-60-generic")
        };
        Some(info(
            "ubuntu",
            "Ubuntu",
            &format!("Ubuntu {version_id}.2 LTS"),
            &format!("{version_id}.2 LTS ({codename})"),
            version_id,
            release,
            "#63-Ubuntu SMP PREEMPT_DYNAMIC Tue Apr 15 19:04:15 UTC 2025",
        ))
    } else if known("debian") {
        Some(info(
            "debian",
            "Debian GNU/Linux",
            "Debian GNU/Linux 13 (trixie)",
            "13 (trixie)",
            "13",
            "6.12.38+deb13-amd64",
            "#1 SMP PREEMPT_DYNAMIC Debian 6.12.38-1 (2025-07-16)",
        ))
    } else if known("centos") {
        Some(info(
            "centos",
            "CentOS Stream",
            "CentOS Stream 9",
            "9",
            "9",
            "5.14.0-570.el9.x86_64",
            "#1 SMP PREEMPT_DYNAMIC Tue Apr 8 13:43:17 UTC 2025",
        ))
    } else if known("rhel") {
        Some(info(
            "rhel",
            "Red Hat Enterprise Linux",
            "Red Hat Enterprise Linux 9.6 (Plow)",
            "9.6 (Plow)",
            "9.6",
            "5.14.0-570.12.1.el9_6.x86_64",
            "#1 SMP PREEMPT_DYNAMIC Tue Apr 22 11:15:04 EDT 2025",
        ))
    } else if known("opensuse") || known("leap") {
        Some(info(
            "opensuse-leap",
            "openSUSE Leap",
            "openSUSE Leap 15.6",
            "15.6",
            "15.6",
            "6.4.0-150600.23.47-default",
            "#1 SMP PREEMPT_DYNAMIC Wed Apr 16 08:08:09 UTC 2025 (a0b6ab3)",
        ))
    } else if known("windows") || known("win2k") || known("win11") || known("win10") {
        Some(info(
            "mswindows",
            "Microsoft Windows",
            "Windows Server 2022 Datacenter",
            "Microsoft Windows Server 2022",
            "2022",
            "20348",
            "10.0",
        ))
    } else {
        None
    }
}
