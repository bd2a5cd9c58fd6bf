//! `build`: an image from a recipe file in Dockerfile syntax. Each stage
//! starts from an image, `scratch` or an earlier stage; each step that
//! changes files makes a layer in the home's build cache
//! ([`crate::build::cache`]), found again there by its key
//! ([`crate::build::key`]) when nothing it depends on changed. RUN runs in
//! a build container made with [`super::create`] and booted with `-e`
//! ([`super::boot`]): the same hardening as any container (user namespace,
//! seccomp, capabilities, cgroup), its output streamed; its writable layer
//! becomes the step's layer. The image recorded at the end stacks on the
//! step layers (they are its base layers, shared with the cache), or is
//! one flat layer with `--squash`.
//!
//! Nothing is left by a failed or interrupted build: a build container is
//! removed when its step ends, however it ends; a layer is built in a
//! staging directory and enters the cache with one rename; SIGINT, SIGTERM
//! and SIGHUP are held while the build runs (a Ctrl-C also reaches the
//! build container's init, which stops the step) and end it after the
//! current step, cleaned up. After a `kill -9` the next command removes
//! the build containers left (their names start with `=build.` and the
//! build cache's lock is free: [`build_leftovers`]) and the staging
//! directories (as for every command). Crash points
//! ([`crate::crashpoint`]): `build.created` (a build container made),
//! `build.ran` (its RUN ended), `build.taken` (its layer moved to staging),
//! `build.staged` (a step's layer complete in staging), `build.image` (the
//! image staged, not yet in place).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use super::boot::{BootRequest, Booted, Start};
use super::create::{CreateRequest, NewContainer};
use crate::build::files::{self, Entry, Origin, Placement};
use crate::build::ignore::Ignore;
use crate::build::key::{sources_digest, Chain};
use crate::build::recipe::{self, Command, CopySpec, Instruction, Recipe, Step};
use crate::build::{cache, layers, BuildError};
use crate::container::EnvVar;
use crate::fsutil::tree::tree_size;
use crate::home::LockKind;
use crate::image::archive::flatten::flatten;
use crate::image::store::{new_meta, LAYER_DIR};
use crate::image::ImageConfig;
use crate::names::{ImageRef, Name, Version};
use crate::network::Net;
use crate::runtime::{Runtime, StopMode};

/// Prefix of build containers' names.
pub const BUILD_CONTAINER_PREFIX: &str = "=build.";

/// `-a build`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRequest {
    /// The recipe (None: `Xdockerfile`, else `Dockerfile`, in the context).
    pub file: Option<PathBuf>,
    /// The build context: what COPY and ADD read.
    pub context: PathBuf,
    pub image: Name,
    pub version: Version,
    /// `--build-arg K=V`, later ones win.
    pub build_args: Vec<(String, String)>,
    /// The stage to build (None: the last).
    pub target: Option<String>,
    /// Run every step, use no cached layer.
    pub no_cache: bool,
    /// The image is one flat layer (no base layers).
    pub squash: bool,
    /// The network of RUN steps.
    pub net: Net,
    /// Replace an existing image version (`-f`).
    pub replace: bool,
}

/// What a build reports as it goes (the command prints them).
#[derive(Debug)]
pub enum BuildEvent<'a> {
    /// `Step 3/9 : RUN ...`.
    Step {
        number: usize,
        total: usize,
        text: &'a str,
    },
    /// The base of a stage.
    Base(&'a str),
    /// A step's layer came from the cache.
    UsingCache { layer: &'a str },
    /// A RUN step starts in this build container.
    Running { container: &'a str },
    /// A step made a layer.
    Layer {
        layer: &'a str,
        size: u64,
        took: Duration,
    },
    /// Something the user should know.
    Warning(String),
}

impl BuildEvent<'_> {
    /// The event as Docker's classic builder prints it (`Step 3/9 : RUN
    /// ...`, ` ---> Using cache`, ` ---> 0a1b2c3d4e5f (12.0M, 3.21s)`); None
    /// for a warning (the caller says those its own way). Both grammars'
    /// `build` print these lines.
    pub fn docker_line(&self) -> Option<String> {
        let short = |id: &str| id[..id.len().min(12)].to_string();
        Some(match self {
            Self::Step {
                number,
                total,
                text,
            } => format!(
                "Step {number}/{total} : {}",
                text.split_whitespace().collect::<Vec<_>>().join(" ")
            ),
            Self::Base(base) => format!(" ---> {base}"),
            Self::UsingCache { layer } => format!(" ---> Using cache\n ---> {}", short(layer)),
            Self::Running { container } => format!(" ---> Running in {container}"),
            Self::Layer { layer, size, took } => format!(
                " ---> {} ({}, {:.2}s)",
                short(layer),
                size_text(*size),
                took.as_secs_f64()
            ),
            Self::Warning(_) => return None,
        })
    }
}

/// A size as `-s images` shows sizes: 512B, 1.5K, 12.3M.
fn size_text(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes}B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < 3 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1}{}", ["K", "M", "G", "T"][unit])
}

/// What a build made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// `NAME:VERSION`.
    pub image: String,
    pub steps: usize,
    /// Steps whose layer came from the cache.
    pub cached: usize,
    /// Steps that made a layer.
    pub made: usize,
    pub took: Duration,
    /// The image's layers, bottom first (`=build:ID` for step layers).
    pub layers: Vec<String>,
}

/// A stage as built so far.
#[derive(Debug, Clone)]
struct StageState {
    /// The layers, bottom first, as image references and directories.
    stack: Vec<ImageRef>,
    dirs: Vec<PathBuf>,
    config: ImageConfig,
    /// CMD was set in this stage (an ENTRYPOINT then keeps it).
    cmd_here: bool,
    /// ARGs in scope, with their values.
    args: BTreeMap<String, String>,
    chain: Chain,
}

impl StageState {
    fn var(&self, key: &str) -> Option<String> {
        self.config
            .env_value(key)
            .map(str::to_string)
            .or_else(|| self.args.get(key).cloned())
    }

    fn expand(&self, raw: &str) -> Result<String, BuildError> {
        recipe::expand(raw, &|k| self.var(k)).map_err(BuildError::Substitution)
    }

    fn workdir(&self) -> String {
        self.config
            .workdir
            .clone()
            .unwrap_or_else(|| "/".to_string())
    }

    /// `path` made absolute against the working directory (a trailing
    /// `/` kept).
    fn absolute(&self, path: &str) -> String {
        match path.starts_with('/') {
            true => path.to_string(),
            false => format!("{}/{path}", self.workdir().trim_end_matches('/')),
        }
    }
}

/// SIGINT, SIGTERM and SIGHUP held for the build and read from a
/// signalfd between steps; the old mask comes back when dropped.
struct Signals {
    fd: Option<SignalFd>,
    old: SigSet,
}

impl Signals {
    fn hold() -> Self {
        let mut set = SigSet::empty();
        for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
            set.add(s);
        }
        let mut old = SigSet::empty();
        let _ =
            nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old));
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC).ok();
        Self { fd, old }
    }

    /// The signal that arrived, if any.
    fn arrived(&mut self) -> Option<String> {
        let info = self.fd.as_mut()?.read_signal().ok()??;
        Some(
            Signal::try_from(info.ssi_signo as i32)
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|_| format!("signal {}", info.ssi_signo)),
        )
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&self.old), None);
    }
}

/// A build container, removed (killed first if it runs) when dropped.
struct BuildContainer<'a> {
    rt: &'a Runtime,
    name: Name,
}

impl Drop for BuildContainer<'_> {
    fn drop(&mut self) {
        remove_build_container(self.rt, &self.name);
    }
}

fn remove_build_container(rt: &Runtime, name: &Name) {
    if !rt.containers.present(name) {
        return;
    }
    let _ = rt.stop(name, StopMode::Kill, true);
    let req = super::DestroyRequest {
        name: name.clone(),
        shutdown: false,
        force: true,
    };
    if let Err(e) = super::destroy(rt, &req) {
        crate::logging::warn(&format!("build container {name}: removing it failed: {e}"));
    }
}

/// Removes the build containers a killed build left (its lock on the
/// build cache is free then). Every command runs this first; a running
/// build holds the lock, and its containers are left alone.
pub fn build_leftovers(rt: &Runtime) {
    let Ok(names) = rt.containers.names() else {
        return;
    };
    if !names
        .iter()
        .any(|n| n.as_str().starts_with(BUILD_CONTAINER_PREFIX))
    {
        return;
    }
    let Ok(Some(_lock)) = rt
        .images
        .home()
        .try_lock(LockKind::Image, &cache::cache_name())
    else {
        return;
    };
    remove_leftovers(rt, &names);
}

fn remove_leftovers(rt: &Runtime, names: &[Name]) {
    for n in names
        .iter()
        .filter(|n| n.as_str().starts_with(BUILD_CONTAINER_PREFIX))
    {
        crate::logging::warn(&format!(
            "build container {n} was left by an interrupted build: removed"
        ));
        remove_build_container(rt, n);
    }
}

/// The recipe file of a request.
fn recipe_path(req: &BuildRequest) -> Result<PathBuf, BuildError> {
    if let Some(f) = &req.file {
        return Ok(f.clone());
    }
    ["Xdockerfile", "Dockerfile"]
        .iter()
        .map(|n| req.context.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| BuildError::NoRecipe(req.context.clone()))
}

/// Everything the steps share.
struct Build<'a, 'e> {
    rt: &'a Runtime,
    req: &'a BuildRequest,
    recipe: &'a Recipe,
    ignore: Ignore,
    events: &'e mut dyn FnMut(BuildEvent<'_>),
    signals: Signals,
    step: usize,
    total: usize,
    cached: usize,
    made: usize,
    containers: usize,
    /// The no-cache salt (with --no-cache every key is new).
    salt: String,
}

/// Builds the image a request asks for.
pub fn build(
    rt: &Runtime,
    req: &BuildRequest,
    events: &mut dyn FnMut(BuildEvent<'_>),
) -> Result<Built, BuildError> {
    let started = Instant::now();
    if !req.context.is_dir() {
        return Err(BuildError::NoContext(req.context.clone()));
    }
    let path = recipe_path(req)?;
    let text = std::fs::read_to_string(&path).map_err(|source| BuildError::ReadRecipe {
        path: path.clone(),
        source,
    })?;
    let recipe = recipe::parse(&text).map_err(|source| BuildError::Recipe {
        path: path.clone(),
        source,
    })?;
    for (k, _) in &req.build_args {
        if !crate::container::env::is_name(k) {
            return Err(BuildError::BadBuildArg(k.clone()));
        }
    }
    let target = match &req.target {
        Some(t) => recipe
            .stage_index(t, recipe.stages.len())
            .ok_or_else(|| BuildError::NoTarget(t.clone()))?,
        None => recipe.stages.len() - 1,
    };
    let image = format!("{}:{}", req.image, req.version);
    let exists = |rt: &Runtime| {
        rt.images
            .all_versions(&req.image)
            .map(|v| v.contains(&req.version))
    };
    if !req.replace && exists(rt)? {
        return Err(BuildError::Exists(image));
    }
    refuse_replacing_used(rt, req)?;
    let ignore = Ignore::of_context(&req.context).map_err(|source| BuildError::Ignore {
        path: req.context.clone(),
        source,
    })?;
    // One build at a time per home: the cache is theirs meanwhile.
    let cache_lock = rt.images.lock(&cache::cache_name())?;
    if let Ok(names) = rt.containers.names() {
        remove_leftovers(rt, &names);
    }
    let stages: Vec<usize> = (0..=target).collect();
    let mut b = Build {
        rt,
        req,
        recipe: &recipe,
        ignore,
        events,
        signals: Signals::hold(),
        step: 0,
        total: recipe.step_count(&stages),
        cached: 0,
        made: 0,
        containers: 0,
        salt: match req.no_cache {
            true => format!("{}.{:?}", std::process::id(), std::time::SystemTime::now()),
            false => String::new(),
        },
    };
    let declared: Vec<&str> = recipe
        .global_args
        .iter()
        .map(|(k, _)| k.as_str())
        .chain(recipe.stages.iter().flat_map(|s| {
            s.steps.iter().flat_map(|st| match &st.instruction {
                Instruction::Arg(a) => a.iter().map(|(k, _)| k.as_str()).collect(),
                _ => Vec::new(),
            })
        }))
        .collect();
    for (k, _) in &req.build_args {
        if !declared.contains(&k.as_str()) {
            (b.events)(BuildEvent::Warning(format!(
                "build arg {k} is not declared by an ARG of the recipe: not used"
            )));
        }
    }
    let mut done: Vec<StageState> = Vec::new();
    for &index in &stages {
        let state = b.stage(index, &done)?;
        done.push(state);
    }
    let last = done.swap_remove(target);
    let layers = b.finish(&last, &image)?;
    drop(cache_lock);
    Ok(Built {
        image,
        steps: b.total,
        cached: b.cached,
        made: b.made,
        took: started.elapsed(),
        layers,
    })
}

impl Build<'_, '_> {
    /// The value of an ARG declared before the first FROM (a build arg
    /// given for it, else its default); None for any other name.
    fn global_var(&self, key: &str) -> Option<String> {
        let (_, default) = self
            .recipe
            .global_args
            .iter()
            .rev()
            .find(|(k, _)| k == key)?;
        match self.req.build_args.iter().rev().find(|(k, _)| k == key) {
            Some((_, v)) => Some(v.clone()),
            None => default.clone(),
        }
    }

    fn interrupted(&mut self) -> Result<(), BuildError> {
        match self.signals.arrived() {
            Some(s) => Err(BuildError::Interrupted(s)),
            None => Ok(()),
        }
    }

    /// Wraps a step's error with where it happened.
    fn at(&self, step: &Step) -> impl Fn(BuildError) -> BuildError {
        let (number, total, line, keyword) =
            (self.step, self.total, step.line, step.instruction.keyword());
        move |e| match e {
            e @ BuildError::Interrupted(_) => e,
            e => BuildError::Step {
                step: number,
                total,
                line,
                keyword,
                source: Box::new(e),
            },
        }
    }

    fn stage(&mut self, index: usize, done: &[StageState]) -> Result<StageState, BuildError> {
        let stage = &self.recipe.stages[index];
        self.step += 1;
        (self.events)(BuildEvent::Step {
            number: self.step,
            total: self.total,
            text: &stage.text,
        });
        let from_err = |e: BuildError| BuildError::Step {
            step: self.step,
            total: self.total,
            line: stage.line,
            keyword: "FROM",
            source: Box::new(e),
        };
        let base = recipe::expand(&stage.base, &|k| self.global_var(k))
            .map_err(|e| from_err(BuildError::Substitution(e)))?;
        let mut state = self.base(&base, index, done).map_err(from_err)?;
        (self.events)(BuildEvent::Base(&base));
        for step in &stage.steps {
            self.interrupted()?;
            self.step += 1;
            (self.events)(BuildEvent::Step {
                number: self.step,
                total: self.total,
                text: &step.text,
            });
            let wrap = self.at(step);
            self.run_step(&mut state, step, index, done).map_err(wrap)?;
        }
        self.interrupted()?;
        Ok(state)
    }

    /// The state a stage starts from.
    fn base(
        &self,
        base: &str,
        index: usize,
        done: &[StageState],
    ) -> Result<StageState, BuildError> {
        let mut state = StageState {
            stack: Vec::new(),
            dirs: Vec::new(),
            config: ImageConfig::default(),
            cmd_here: false,
            args: BTreeMap::new(),
            chain: Chain::start("scratch"),
        };
        if base.eq_ignore_ascii_case("scratch") {
            return Ok(state);
        }
        if let Some(i) = self.recipe.stage_index(base, index) {
            let earlier = &done[i];
            state.stack = earlier.stack.clone();
            state.dirs = earlier.dirs.clone();
            state.config = earlier.config.clone();
            state.chain = Chain::start(&format!("stage {}", earlier.chain.as_str()));
            return Ok(state);
        }
        let r: ImageRef = base
            .parse()
            .map_err(|e| BuildError::Invalid(format!("FROM {base}: {e}")))?;
        let stack = super::resolve_stack(self.rt, &[r])?;
        let mut identity = String::from("image");
        for r in &stack {
            let e = self.rt.images.entry(&r.name, &r.version_or_none())?;
            identity.push_str(&format!(" {}@{}", r, e.meta.created));
            state.dirs.push(e.dir.join(LAYER_DIR));
            state.config = e.meta.config.clone();
        }
        state.stack = stack;
        state.chain = Chain::start(&identity);
        Ok(state)
    }

    fn run_step(
        &mut self,
        state: &mut StageState,
        step: &Step,
        index: usize,
        done: &[StageState],
    ) -> Result<(), BuildError> {
        let text = |parts: &[String]| parts.join("\u{1f}");
        match &step.instruction {
            Instruction::Arg(args) => {
                for (name, default) in args {
                    let value = match self.req.build_args.iter().rev().find(|(k, _)| k == name) {
                        Some((_, v)) => Some(v.clone()),
                        None => match default {
                            Some(d) => Some(state.expand(d)?),
                            None => self.global_var(name),
                        },
                    };
                    state.args.insert(name.clone(), value.unwrap_or_default());
                    // The value counts where it is used, not here.
                    state.chain = state.chain.next(&["ARG", name]);
                }
            }
            Instruction::Env(pairs) => {
                let mut values = Vec::new();
                for (k, raw) in pairs {
                    values.push((k.clone(), state.expand(raw)?));
                }
                for (k, v) in &values {
                    EnvVar::new(k, v).map_err(|e| BuildError::Invalid(e.to_string()))?;
                    state.config.set_env(k, v);
                }
                let parts: Vec<String> = values.iter().map(|(k, v)| format!("{k}={v}")).collect();
                state.chain = state.chain.next(&["ENV", &text(&parts)]);
            }
            Instruction::Label(pairs) => {
                let mut parts = Vec::new();
                for (k, raw) in pairs {
                    let (k, v) = (state.expand(k)?, state.expand(raw)?);
                    parts.push(format!("{k}={v}"));
                    state.config.labels.insert(k, v);
                }
                state.chain = state.chain.next(&["LABEL", &text(&parts)]);
            }
            Instruction::User(raw) => {
                let user = state.expand(raw)?;
                state.chain = state.chain.next(&["USER", &user]);
                state.config.user = Some(user);
            }
            Instruction::Workdir(raw) => {
                let dir = clean_abs(&state.absolute(&state.expand(raw)?));
                state.chain = state.chain.next(&["WORKDIR", &dir]);
                state.config.workdir = Some(dir.clone());
                let rel = layers::resolve(&state.dirs, &dir, true)?;
                let present = layers::lookup(&state.dirs, &rel)?.is_some_and(|(_, m)| m.is_dir());
                if !present {
                    self.layer_step(state, step, |_, layer, lowers| {
                        let place = Placement {
                            layer,
                            lowers,
                            owner: None,
                            chmod: None,
                        };
                        files::ensure_dirs(place, &rel)?;
                        Ok(())
                    })?;
                }
            }
            Instruction::Shell(argv) => {
                state.chain = state.chain.next(&["SHELL", &text(argv)]);
                state.config.shell = Some(argv.clone());
            }
            Instruction::Cmd(c) => {
                let argv = self.argv(state, c);
                state.chain = state.chain.next(&["CMD", &text(&argv)]);
                state.config.cmd = Some(argv);
                state.cmd_here = true;
            }
            Instruction::Entrypoint(c) => {
                let argv = self.argv(state, c);
                state.chain = state.chain.next(&["ENTRYPOINT", &text(&argv)]);
                state.config.entrypoint = Some(argv);
                // Docker: a new ENTRYPOINT drops a CMD inherited from the base.
                if !state.cmd_here {
                    state.config.cmd = None;
                }
            }
            Instruction::Expose(ports) => {
                for raw in ports {
                    let p = state.expand(raw)?;
                    recipe::check_port(&p).map_err(BuildError::Invalid)?;
                    let p = match p.contains('/') {
                        true => p.to_ascii_lowercase(),
                        false => format!("{p}/tcp"),
                    };
                    if !state.config.exposed_ports.contains(&p) {
                        state.config.exposed_ports.push(p);
                    }
                }
                state.config.exposed_ports.sort();
                let ports = state.config.exposed_ports.clone();
                state.chain = state.chain.next(&["EXPOSE", &text(&ports)]);
            }
            Instruction::Volume(paths) => {
                for raw in paths {
                    let v = state.expand(raw)?;
                    if !state.config.volumes.contains(&v) {
                        state.config.volumes.push(v);
                    }
                }
                let volumes = state.config.volumes.clone();
                state.chain = state.chain.next(&["VOLUME", &text(&volumes)]);
            }
            Instruction::StopSignal(raw) => {
                let s = state.expand(raw)?;
                let valid = s.parse::<u8>().is_ok_and(|n| (1..=64).contains(&n))
                    || format!("SIG{}", s.trim_start_matches("SIG"))
                        .parse::<Signal>()
                        .is_ok();
                if !valid {
                    return Err(BuildError::Invalid(format!("STOPSIGNAL {s}: not a signal")));
                }
                state.chain = state.chain.next(&["STOPSIGNAL", &s]);
                state.config.stop_signal = Some(s);
            }
            Instruction::Run(c) => self.run(state, step, c)?,
            Instruction::Copy(spec) => self.copy(state, step, spec, false, index, done)?,
            Instruction::Add(spec) => self.copy(state, step, spec, true, index, done)?,
        }
        Ok(())
    }

    /// A CMD or ENTRYPOINT as it is stored: exec form as it is, shell
    /// form through the SHELL.
    fn argv(&self, state: &StageState, c: &Command) -> Vec<String> {
        match c {
            Command::Exec(argv) => argv.clone(),
            Command::Shell(text) => {
                let mut argv = state.config.shell_or_default();
                argv.push(text.clone());
                argv
            }
        }
    }

    /// A step that makes a layer: from the cache when its key is there,
    /// otherwise made by `make` into a staging layer that then enters the
    /// cache. `make` gets the build, the new layer and the layers below.
    fn layer_step(
        &mut self,
        state: &mut StageState,
        step: &Step,
        make: impl FnOnce(&mut Self, &Path, &[PathBuf]) -> Result<(), BuildError>,
    ) -> Result<(), BuildError> {
        if !self.salt.is_empty() {
            state.chain = state.chain.next(&["no-cache", &self.salt]);
        }
        let id: Version = state.chain.layer_id().parse()?;
        let images = &self.rt.images;
        let name = cache::cache_name();
        if cache::has(images, &id) {
            cache::touch(images, &id);
            (self.events)(BuildEvent::UsingCache { layer: id.as_str() });
            self.cached += 1;
        } else {
            let started = Instant::now();
            let staging = images.stage("build")?;
            let layer = staging.path().join(LAYER_DIR);
            make(self, &layer, &state.dirs)?;
            crate::crashpoint::hit("build.staged");
            self.interrupted()?;
            let size = tree_size(&layer)?;
            let mut meta = new_meta(
                size,
                &format!("{} (line {})", one_line(&step.text), step.line),
            );
            meta.base_layers = state.stack.iter().map(ToString::to_string).collect();
            cache::insert(images, staging, &id, meta)?;
            (self.events)(BuildEvent::Layer {
                layer: id.as_str(),
                size,
                took: started.elapsed(),
            });
            self.made += 1;
        }
        state.dirs.push(images.layer_dir(&name, &id));
        state.stack.push(cache::layer_ref(id.as_str())?);
        Ok(())
    }

    fn run(&mut self, state: &mut StageState, step: &Step, c: &Command) -> Result<(), BuildError> {
        if state.stack.is_empty() {
            return Err(BuildError::RunOnScratch);
        }
        let mut env: Vec<(String, String)> = state
            .args
            .iter()
            .filter(|(k, _)| state.config.env_value(k).is_none())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let args_in_key: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        for e in &state.config.env {
            if let Some((k, v)) = e.split_once('=') {
                env.push((k.to_string(), v.to_string()));
            }
        }
        let script = run_script(state, c);
        let who = format!(
            "workdir={} user={}",
            state.config.workdir.as_deref().unwrap_or("/"),
            state.config.user.as_deref().unwrap_or("")
        );
        state.chain = state
            .chain
            .next(&["RUN", &script, &who, &args_in_key.join("\u{1f}")]);
        let net = self.req.net.clone();
        let stack = state.stack.clone();
        let (workdir, user) = (state.config.workdir.clone(), state.config.user.clone());
        self.layer_step(state, step, move |b, layer, lowers| {
            b.containers += 1;
            let name = Name::parse_as(
                "container name",
                &format!(
                    "{BUILD_CONTAINER_PREFIX}{}.{}",
                    std::process::id(),
                    b.containers
                ),
            )?;
            let who = (workdir.as_deref(), user.as_deref());
            b.run_container(&name, stack, lowers, net, &env, who, &script, layer)
        })?;
        Ok(())
    }

    fn copy(
        &mut self,
        state: &mut StageState,
        step: &Step,
        spec: &CopySpec,
        add: bool,
        index: usize,
        done: &[StageState],
    ) -> Result<(), BuildError> {
        let sources: Vec<String> = spec
            .sources
            .iter()
            .map(|s| state.expand(s))
            .collect::<Result<_, _>>()?;
        let dest = state.absolute(&state.expand(&spec.dest)?);
        let chown = spec.chown.as_deref().map(|c| state.expand(c)).transpose()?;
        let from = spec.from.as_deref().map(|f| state.expand(f)).transpose()?;
        // Where the sources come from, and what identifies them.
        let (from_dirs, from_identity): (Option<Vec<PathBuf>>, Option<String>) = match &from {
            None => (None, None),
            Some(f) => match self.recipe.stage_index(f, index) {
                Some(i) => (
                    Some(done[i].dirs.clone()),
                    Some(format!("stage {}", done[i].chain.as_str())),
                ),
                None => {
                    let r: ImageRef = f
                        .parse()
                        .map_err(|e| BuildError::Invalid(format!("--from={f}: {e}")))?;
                    let stack = super::resolve_stack(self.rt, &[r])?;
                    let mut dirs = Vec::new();
                    let mut id = String::from("image");
                    for r in &stack {
                        let e = self.rt.images.entry(&r.name, &r.version_or_none())?;
                        id.push_str(&format!(" {r}@{}", e.meta.created));
                        dirs.push(e.dir.join(LAYER_DIR));
                    }
                    (Some(dirs), Some(id))
                }
            },
        };
        let origin = match &from_dirs {
            Some(dirs) => Origin::Layers(dirs),
            None => Origin::Context {
                dir: &self.req.context,
                ignore: &self.ignore,
            },
        };
        let dest_rel = layers::resolve(&state.dirs, &dest, true)?;
        let dest_is_dir = layers::lookup(&state.dirs, &dest_rel)?.is_some_and(|(_, m)| m.is_dir());
        // ADD unpacks each local archive source into the destination.
        let mut groups: Vec<(Vec<Entry>, bool, Option<PathBuf>)> = Vec::new();
        if add {
            if sources.len() > 1 && !dest.ends_with('/') && !dest_is_dir {
                return Err(files::FilesError::DestNotDir(dest.clone()).into());
            }
            for s in &sources {
                let (entries, into_dir) = files::collect(
                    origin,
                    std::slice::from_ref(s),
                    &dest,
                    dest_is_dir || sources.len() > 1,
                )?;
                let archive = match entries.as_slice() {
                    [one] if one.meta.is_file() => {
                        files::archive_kind(&one.host)?.map(|_| one.host.clone())
                    }
                    _ => None,
                };
                groups.push((entries, into_dir, archive));
            }
        } else {
            let (entries, into_dir) = files::collect(origin, &sources, &dest, dest_is_dir)?;
            groups.push((entries, into_dir, None));
        }
        let digest = match &from_identity {
            Some(id) => id.clone(),
            None => {
                let mut parts = Vec::new();
                for g in &groups {
                    parts.push(sources_digest(&g.0).map_err(|source| BuildError::Io {
                        what: "read the build context".to_string(),
                        source,
                    })?);
                }
                parts.join(" ")
            }
        };
        let keyword = if add { "ADD" } else { "COPY" };
        let flags = format!(
            "chown={} chmod={:?} from={}",
            chown.as_deref().unwrap_or(""),
            spec.chmod,
            from.as_deref().unwrap_or("")
        );
        state.chain = state
            .chain
            .next(&[keyword, &flags, &sources.join("\u{1f}"), &dest, &digest]);
        let chmod = spec.chmod;
        self.layer_step(state, step, move |_, layer, lowers| {
            let owner = chown
                .as_deref()
                .map(|c| layers::resolve_ids(lowers, c))
                .transpose()?;
            let place = Placement {
                layer,
                lowers,
                owner,
                chmod,
            };
            for (n, (entries, into_dir, archive)) in groups.iter().enumerate() {
                match archive {
                    Some(path) => {
                        let tmp = layer.with_file_name(format!("unpack.{n}"));
                        std::fs::create_dir(&tmp).map_err(|source| BuildError::Io {
                            what: format!("make {}", tmp.display()),
                            source,
                        })?;
                        let unpacked = files::unpack(path, &tmp)?;
                        files::write(
                            place,
                            &format!("{}/", dest.trim_end_matches('/')),
                            &unpacked,
                        )?;
                        let _ = std::fs::remove_dir_all(&tmp);
                    }
                    None => {
                        let to = match into_dir {
                            true => format!("{}/", dest.trim_end_matches('/')),
                            false => dest.clone(),
                        };
                        files::write(place, &to, entries)?;
                    }
                }
            }
            Ok(())
        })
    }

    /// Runs `script` in a build container on `stack` (whose layer
    /// directories are `lowers`) and moves its writable layer to `layer`,
    /// without xdocker's run-time files. The container is gone afterwards,
    /// however the step ended.
    #[allow(clippy::too_many_arguments)]
    fn run_container(
        &mut self,
        name: &Name,
        stack: Vec<ImageRef>,
        lowers: &[PathBuf],
        net: Net,
        env: &[(String, String)],
        (workdir, user): (Option<&str>, Option<&str>),
        script: &str,
        layer: &Path,
    ) -> Result<(), BuildError> {
        let env: Vec<EnvVar> = env
            .iter()
            .map(|(k, v)| EnvVar::new(k, v))
            .collect::<Result<_, _>>()
            .map_err(|e| BuildError::Invalid(e.to_string()))?;
        let rt = self.rt;
        // WORKDIR and USER of the step: the main process's (xdockerinit
        // resolves the user against the container's /etc/passwd).
        let container = NewContainer {
            hostname: Some("build".to_string()),
            net,
            env,
            workdir: workdir.map(str::to_string),
            user: user.map(str::to_string),
            ..NewContainer::default()
        };
        super::create(
            rt,
            CreateRequest {
                name: Some(name.clone()),
                images: stack,
                container,
                boot: None,
            },
        )?;
        let guard = BuildContainer {
            rt,
            name: name.clone(),
        };
        crate::crashpoint::hit("build.created");
        (self.events)(BuildEvent::Running {
            container: name.as_str(),
        });
        let booted = super::boot(
            rt,
            BootRequest::stored(name.clone(), Start::Exec(script.to_string())),
        )?;
        crate::crashpoint::hit("build.ran");
        self.interrupted()?;
        match booted {
            Booted::Exited { code: 0 } => {}
            Booted::Exited { code } => return Err(BuildError::ExitCode(code)),
            other => {
                return Err(BuildError::Invalid(format!(
                    "the build container ended unexpectedly: {other:?}"
                )))
            }
        }
        let config = rt
            .containers
            .config(name)
            .map_err(super::LifecycleError::from)?;
        rt.containers
            .take_rwlayer(name, layer)
            .map_err(super::LifecycleError::from)?;
        crate::crashpoint::hit("build.taken");
        crate::container::runtime_files::strip(layer, lowers, &config).map_err(|source| {
            BuildError::Io {
                what: format!("strip xdocker's run-time files from {}", layer.display()),
                source,
            }
        })?;
        drop(guard);
        Ok(())
    }

    /// The image at the end: on the step layers, or one flat layer.
    fn finish(&mut self, last: &StageState, image: &str) -> Result<Vec<String>, BuildError> {
        let images = &self.rt.images;
        let staging = images.stage("build")?;
        let layer = staging.path().join(LAYER_DIR);
        let mut meta = new_meta(0, &format!("build from {}", self.req.context.display()));
        if self.req.squash {
            let merged = flatten(&last.dirs, &Default::default())?;
            let entries: Vec<Entry> = merged
                .into_iter()
                .map(|m| Entry {
                    host: last.dirs[m.layer].join(&m.entry.rel),
                    sub: m.entry.rel,
                    meta: m.entry.meta,
                    keep_owner: true,
                    xattrs: true,
                })
                .collect();
            let place = Placement {
                layer: &layer,
                lowers: &[],
                owner: None,
                chmod: None,
            };
            files::write(place, "/", &entries)?;
        } else {
            meta.base_layers = last.stack.iter().map(ToString::to_string).collect();
        }
        meta.size = tree_size(&layer)?;
        meta.config = last.config.clone();
        let _lock = images.lock(&self.req.image)?;
        if !self.req.replace
            && images
                .all_versions(&self.req.image)?
                .contains(&self.req.version)
        {
            return Err(BuildError::Exists(image.to_string()));
        }
        refuse_replacing_used(self.rt, self.req)?;
        let mut layers = meta.base_layers.clone();
        layers.push(image.to_string());
        crate::crashpoint::hit("build.image");
        images.commit(
            staging,
            &self.req.image,
            &self.req.version,
            meta,
            self.req.replace,
        )?;
        Ok(layers)
    }
}

/// A version containers stack on keeps its layer: a build replacing it
/// would change the files under them.
fn refuse_replacing_used(rt: &Runtime, req: &BuildRequest) -> Result<(), BuildError> {
    if !rt.images.all_versions(&req.image)?.contains(&req.version) {
        return Ok(());
    }
    let users = rt.images.users(&req.image, &req.version)?;
    if users.is_empty() {
        return Ok(());
    }
    Err(BuildError::ReplaceInUse {
        image: format!("{}:{}", req.image, req.version),
        containers: crate::image::user_list(&users),
    })
}

/// The text of a step on one line (for the cache's listing).
fn one_line(text: &str) -> String {
    let t: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match t.chars().count() > 120 {
        true => format!("{}...", t.chars().take(117).collect::<String>()),
        false => t,
    }
}

/// `/a/./b/../c/` as `/a/c`.
fn clean_abs(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Quotes a word for sh.
fn sh_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// The `sh -c` script a RUN step's build container runs as its main
/// process (in the WORKDIR, as the USER): shell form as it is or through
/// the SHELL, exec form as it is.
fn run_script(state: &StageState, c: &Command) -> String {
    let argv = match c {
        Command::Shell(text) if state.config.shell.is_none() => return text.clone(),
        Command::Shell(text) => {
            let mut argv = state.config.shell_or_default();
            argv.push(text.clone());
            argv
        }
        Command::Exec(argv) => argv.clone(),
    };
    let quoted: Vec<String> = argv.iter().map(|a| sh_quote(a)).collect();
    format!("exec {}", quoted.join(" "))
}

/// `-a prune_build_cache [--all]`: under the cache's lock (no build runs
/// meanwhile), after removing what killed builds left.
pub fn prune_build_cache(rt: &Runtime, all: bool) -> Result<cache::Pruned, BuildError> {
    let _lock = rt.images.lock(&cache::cache_name())?;
    if let Ok(names) = rt.containers.names() {
        remove_leftovers(rt, &names);
    }
    Ok(cache::prune(&rt.images, all, chrono::Local::now())?)
}

/// `-s build_cache`: every cached layer.
pub fn build_cache(rt: &Runtime) -> Result<Vec<cache::CacheEntry>, BuildError> {
    Ok(cache::list(&rt.images)?)
}
