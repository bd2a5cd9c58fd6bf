//! What an image says about the containers made from it (Docker's image
//! config): environment, working directory, user, entrypoint and command,
//! exposed ports, labels, stop signal, volumes and the build shell. Set by
//! recipe builds, kept in the image's manifest (`[config]` of
//! `image.toml`), carried by export, import and the ssh repository.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An image's metadata; every field empty for images made otherwise (and
/// then not written at all, so their manifests stay as they were).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageConfig {
    /// `KEY=VALUE`, in the order set.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Exec form; a shell-form ENTRYPOINT is stored as `SHELL + [text]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// `80/tcp`, `53/udp`, sorted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exposed_ports: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    /// SHELL (None: `/bin/sh -c`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

impl ImageConfig {
    /// True when nothing is set (then it is not written).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The value of variable `key`, if the image sets it.
    pub fn env_value(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find_map(|e| e.split_once('=').filter(|(k, _)| *k == key).map(|(_, v)| v))
    }

    /// Sets variable `key` (replacing it in its place).
    pub fn set_env(&mut self, key: &str, value: &str) {
        let entry = format!("{key}={value}");
        match self
            .env
            .iter_mut()
            .find(|e| e.split_once('=').is_some_and(|(k, _)| k == key))
        {
            Some(slot) => *slot = entry,
            None => self.env.push(entry),
        }
    }

    /// The shell of shell-form commands.
    pub fn shell_or_default(&self) -> Vec<String> {
        self.shell
            .clone()
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }
}

/// The default main process of a container made from an image, as Docker
/// combines them: ENTRYPOINT followed by CMD (CMD alone when there is no
/// ENTRYPOINT; None when neither is set). `docker run IMAGE ARGS` replaces
/// the CMD part with ARGS; pass them as `args` (None: the image's CMD).
pub fn default_process(config: &ImageConfig, args: Option<&[String]>) -> Option<Vec<String>> {
    let cmd: Option<Vec<String>> = match args {
        Some(a) if !a.is_empty() => Some(a.to_vec()),
        _ => config.cmd.clone(),
    };
    let mut argv = config.entrypoint.clone().unwrap_or_default();
    argv.extend(cmd.unwrap_or_default());
    (!argv.is_empty()).then_some(argv)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn entrypoint_and_cmd_combine_as_docker_does() {
        let mut c = ImageConfig::default();
        assert_eq!(default_process(&c, None), None);
        c.cmd = Some(v(&["sh"]));
        assert_eq!(default_process(&c, None), Some(v(&["sh"])));
        assert_eq!(
            default_process(&c, Some(&v(&["ls", "/"]))),
            Some(v(&["ls", "/"]))
        );
        c.entrypoint = Some(v(&["/init", "--x"]));
        assert_eq!(default_process(&c, None), Some(v(&["/init", "--x", "sh"])));
        assert_eq!(
            default_process(&c, Some(&v(&["a"]))),
            Some(v(&["/init", "--x", "a"]))
        );
        c.cmd = None;
        assert_eq!(default_process(&c, None), Some(v(&["/init", "--x"])));
    }

    #[test]
    fn empty_config_is_not_written_and_old_manifests_load() {
        #[derive(Serialize, Deserialize)]
        struct M {
            #[serde(default, skip_serializing_if = "ImageConfig::is_empty")]
            config: ImageConfig,
        }
        assert_eq!(
            toml::to_string(&M {
                config: ImageConfig::default()
            })
            .expect("toml"),
            ""
        );
        let old: M = toml::from_str("").expect("old");
        assert!(old.config.is_empty());
        let mut c = ImageConfig::default();
        c.set_env("A", "1");
        c.set_env("B", "2");
        c.set_env("A", "3");
        assert_eq!(c.env, v(&["A=3", "B=2"]));
        assert_eq!(c.env_value("A"), Some("3"));
        let text = toml::to_string(&M { config: c.clone() }).expect("toml");
        let back: M = toml::from_str(&text).expect("back");
        assert_eq!(back.config, c);
    }
}
