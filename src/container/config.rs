//! `containers/C/config.toml`: everything `create` was told, stored so that
//! every boot applies the same image stack, network, volumes and limits.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::toml_reason;
use crate::container::service::{self, RestartPolicy, Service};
use crate::container::{EnvVar, Volume};
use crate::fsutil::atomic::{write_atomic, AtomicWriteError};
use crate::image::ImageConfig;
use crate::names::ImageRef;
use crate::network::{Net, PortMap};

/// Errors reading or writing a container config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("container config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("container config {path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("container config: {0}")]
    Serialise(#[from] toml::ser::Error),
    #[error(transparent)]
    Write(#[from] AtomicWriteError),
}

/// Cgroup limits as stored (applied at every boot).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitsConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<Vec<u32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_quota_percent: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_limit_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<u64>,
    /// `--cpu-shares`: relative CPU weight (v1 `cpu.shares`, 2 to 262144).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<u64>,
}

impl LimitsConfig {
    /// True when no limit is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// What a container may do to the kernel, beyond the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SecurityConfig {
    /// The default seccomp filter (`--seccomp off` turns it off).
    pub seccomp: bool,
    /// Capabilities kept although dropped by default (`--cap-add`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    /// Capabilities dropped on top of the defaults (`--cap-drop`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    /// `--userns`: the first host uid and gid of the container's ids
    /// (container root); None: root inside is root on the host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userns: Option<UsernsIds>,
}

/// Where a container's 65536 uids and gids start on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsernsIds {
    pub uid: u32,
    pub gid: u32,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            seccomp: true,
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            userns: None,
        }
    }
}

/// The whole config of one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerConfig {
    pub name: String,
    pub hostname: String,
    /// `NAME:VERSION` of every layer, bottom first (base layers expanded;
    /// versions resolved).
    pub images: Vec<ImageRef>,
    pub net: Net,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_eth: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vip: Option<std::net::Ipv4Addr>,
    /// Stored as `HOST:CONTAINER[/udp]`.
    #[serde(default)]
    pub port_mappings: Vec<PortMap>,
    #[serde(default)]
    pub volumes: Vec<Volume>,
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Booted by `-a autostart` (host start), lower orders first; None: not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autostart: Option<u32>,
    /// `--restart`: how xdockerinit restarts the `-e` main process and the
    /// services. None: the defaults (the main process is not restarted,
    /// services restart on failure).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "service::policy_text"
    )]
    pub restart: Option<RestartPolicy>,
    /// `--service NAME=CMD`: started at every boot, in this order, after
    /// the image's own (`/etc/xdocker/boot.d`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<Service>,
    #[serde(default)]
    pub security: SecurityConfig,
    pub created: String,
    /// `--env`: the variables every process of the container gets, as
    /// `KEY=VALUE`, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// `--workdir`: where the main process and the sessions start (an
    /// absolute path of the container, made when missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// `--user USER[:GROUP]`: who the main process and the sessions run
    /// as, resolved by xdockerinit against the container's /etc/passwd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The main process a plain boot starts in the background (Docker's
    /// `create IMAGE CMD`, `run -d IMAGE CMD`, then `start`); None: a
    /// VM-like container, xdockerinit idle. `-e CMD` runs CMD instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Docker's `--rm`: removed once stopped after a run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auto_remove: bool,
    /// Docker's `-t` with a command: the main process of plain boots runs
    /// on a terminal of its own, which `attach` (and `run -it`, `start
    /// -a`) attach to.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tty: bool,
}

impl ContainerConfig {
    /// The image stack as the user reads it: `a:1,b:_`.
    pub fn images_text(&self) -> String {
        let texts: Vec<String> = self.images.iter().map(ImageRef::to_string).collect();
        texts.join(",")
    }

    /// What an image made of this container records (`to_image`,
    /// `commit`): `below`'s configuration (the top image's) with the
    /// container's variables, working directory and user, which came from
    /// that image at create with `--env`, `--workdir` and `--user` over
    /// them, as Docker's commit records the container's Env, WorkingDir
    /// and User.
    pub fn image_config(&self, below: ImageConfig) -> ImageConfig {
        ImageConfig {
            env: self.env.iter().map(ToString::to_string).collect(),
            workdir: self.workdir.clone().or(below.workdir),
            user: self.user.clone().or(below.user),
            ..below
        }
    }

    /// The restart policy of the `-e` main process.
    pub fn main_restart(&self) -> RestartPolicy {
        self.restart.unwrap_or(RestartPolicy::No)
    }

    /// The restart policy of the services.
    pub fn service_restart(&self) -> RestartPolicy {
        self.restart.unwrap_or(service::DEFAULT_SERVICE_RESTART)
    }

    /// Reads a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigFileError::Parse {
            path: path.to_path_buf(),
            reason: toml_reason(&text, &e),
        })
    }

    /// Writes a new config file (in a private staging directory) and
    /// returns it open: the caller makes it durable (`sync_all`).
    pub fn write_new(&self, path: &Path) -> Result<std::fs::File, ConfigFileError> {
        use std::io::Write;
        let text = toml::to_string_pretty(self)?;
        let io = |source| ConfigFileError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mut f = std::fs::File::create_new(path).map_err(io)?;
        f.write_all(text.as_bytes()).map_err(io)?;
        Ok(f)
    }

    /// Writes a config file atomically.
    pub fn save(&self, path: &Path) -> Result<(), ConfigFileError> {
        let text = toml::to_string_pretty(self)?;
        write_atomic(path, text.as_bytes(), 0o644)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trips() {
        let t = tempfile::tempdir().expect("tempdir");
        let p = t.path().join("config.toml");
        let c = ContainerConfig {
            name: "web".into(),
            hostname: "web".into(),
            images: vec![
                "base:1".parse().expect("ref"),
                "sshd:_".parse().expect("ref"),
            ],
            net: Net::Custom,
            host_eth: None,
            vip: Some("10.0.0.2".parse().expect("ip")),
            port_mappings: vec!["8080:80".parse().expect("map")],
            volumes: vec![Volume {
                host: "/srv".into(),
                container: "/data".into(),
                read_only: true,
            }],
            limits: LimitsConfig {
                cpus: Some(vec![0]),
                cpu_quota_percent: None,
                mem_limit_bytes: Some(64 << 20),
                pids_limit: Some(100),
                cpu_shares: Some(512),
            },
            autostart: Some(20),
            restart: Some(RestartPolicy::OnFailure(Some(3))),
            services: vec![
                "web=httpd -f -p 8080".parse().expect("service"),
                "db=sleep 1000".parse().expect("service"),
            ],
            security: SecurityConfig {
                seccomp: false,
                cap_add: vec!["sys_time".into()],
                cap_drop: vec![],
                userns: Some(UsernsIds {
                    uid: 165536,
                    gid: 231072,
                }),
            },
            created: "now".into(),
            env: vec![
                "GREETING=hello world".parse().expect("var"),
                "QUOTED=\"a=b\" 'c'\nd".parse().expect("var"),
            ],
            workdir: Some("/srv/app".into()),
            user: Some("app:staff".into()),
            command: Some("httpd -f -p 80".into()),
            auto_remove: true,
            tty: true,
        };
        c.save(&p).expect("save");
        assert_eq!(ContainerConfig::load(&p).expect("load"), c);
        let text = std::fs::read_to_string(&p).expect("read");
        assert!(text.contains("net = \"CUSTOM\""), "{text}");
        assert!(text.contains("images = ["), "{text}");
        // Typed in memory, the same text on disk as before.
        assert!(text.contains("\"base:1\""), "{text}");
        assert!(text.contains("port_mappings = [\"8080:80\"]"), "{text}");
        assert!(text.contains("autostart = 20"), "{text}");
        assert!(text.contains("restart = \"on-failure:3\""), "{text}");
        assert!(
            text.contains("services = [\n    \"web=httpd -f -p 8080\",")
                || text.contains("services = [\"web=httpd -f -p 8080\","),
            "{text}"
        );
        // Configs written before supervision load with the defaults.
        let mut bare = c.clone();
        bare.restart = None;
        bare.services.clear();
        bare.save(&p).expect("save");
        let text = std::fs::read_to_string(&p).expect("read");
        assert!(!text.contains("restart"), "{text}");
        assert!(!text.contains("services"), "{text}");
        let loaded = ContainerConfig::load(&p).expect("load");
        assert_eq!(loaded.main_restart(), RestartPolicy::No);
        assert_eq!(loaded.service_restart(), RestartPolicy::OnFailure(None));
        c.save(&p).expect("save");
        let text = std::fs::read_to_string(&p).expect("read");
        std::fs::write(&p, text.replace("on-failure:3", "sometimes")).expect("write");
        let e = ContainerConfig::load(&p).expect_err("bad policy");
        assert!(
            e.to_string()
                .contains("'sometimes' is not a restart policy"),
            "{e}"
        );
        c.save(&p).expect("save");
        assert!(text.contains("\"GREETING=hello world\""), "{text}");
        assert!(text.contains("read_only = true"), "{text}");
        assert!(text.contains("cpu_shares = 512"), "{text}");
        assert!(text.contains("workdir = \"/srv/app\""), "{text}");
        assert!(text.contains("user = \"app:staff\""), "{text}");
        assert!(text.contains("command = \"httpd -f -p 80\""), "{text}");
        assert!(text.contains("auto_remove = true"), "{text}");
        assert!(text.contains("tty = true"), "{text}");
        // Configs written before env, cpu shares and read-only volumes
        // existed still load: no variables, no shares, volumes read-write.
        let old = ContainerConfig::load(&p).expect("load");
        let old_text = toml::to_string_pretty(&ContainerConfig {
            env: vec![],
            workdir: None,
            user: None,
            command: None,
            auto_remove: false,
            tty: false,
            ..old
        })
        .expect("toml")
        .replace("read_only = true\n", "")
        .replace("cpu_shares = 512\n", "");
        let old: ContainerConfig = toml::from_str(&old_text).expect("old config");
        assert!(old.env.is_empty() && !old.volumes[0].read_only);
        assert_eq!(old.limits.cpu_shares, None);
        // ... and before the working directory and user: root, in /.
        assert_eq!((old.workdir, old.user), (None, None));
        assert_eq!(
            (old.command, old.auto_remove, old.tty),
            (None, false, false)
        );
        // Configs written before autostart existed still load (not started).
        let old = text.replace("autostart = 20\n", "");
        std::fs::write(&p, old).expect("write");
        let old = ContainerConfig::load(&p).expect("load");
        assert_eq!(old.autostart, None);
        // ... and without [security]: the defaults, seccomp on.
        let text = std::fs::read_to_string(&p).expect("read");
        let cut = text.find("[security]").expect("security table");
        std::fs::write(&p, &text[..cut]).expect("write");
        assert_eq!(
            ContainerConfig::load(&p).expect("load").security,
            SecurityConfig::default()
        );
        assert!(SecurityConfig::default().seccomp);
    }
}
