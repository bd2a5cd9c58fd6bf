//! Image builds from a recipe file in Dockerfile syntax (`-a build`): the
//! parser ([`recipe`]), the context's ignore rules ([`ignore`]), the cache
//! keys ([`key`]), the cache of step layers in the home ([`cache`]), the
//! view of stacked layers a step reads ([`layers`]), the file steps COPY
//! and ADD ([`files`]) and the image metadata a recipe sets ([`meta`]).
//! The steps are run by [`crate::lifecycle::build`].

pub mod cache;
pub mod files;
pub mod ignore;
pub mod key;
pub mod layers;
pub mod recipe;

use std::path::PathBuf;

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("build context {}: not a directory", .0.display())]
    NoContext(PathBuf),
    #[error("no recipe: the build context {} has neither Xdockerfile nor Dockerfile (name one with --file)", .0.display())]
    NoRecipe(PathBuf),
    #[error("read recipe {}: {source}", .path.display())]
    ReadRecipe {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("recipe {}: {source}", .path.display())]
    Recipe {
        path: PathBuf,
        #[source]
        source: recipe::RecipeError,
    },
    #[error("--target {0}: no such stage in the recipe")]
    NoTarget(String),
    #[error("--build-arg {0}: expected KEY=VALUE with a variable name as KEY")]
    BadBuildArg(String),
    #[error("read the ignore file of {}: {source}", .path.display())]
    Ignore {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("image {0} already exists (use -f to replace it)")]
    Exists(String),
    #[error(
        "image {image} is used by container {containers}: a build does not replace it under them"
    )]
    ReplaceInUse { image: String, containers: String },
    #[error("step {step}/{total} (line {line}) {keyword}: {source}")]
    Step {
        step: usize,
        total: usize,
        line: usize,
        keyword: &'static str,
        #[source]
        source: Box<BuildError>,
    },
    #[error("the command exited with code {0}")]
    ExitCode(i32),
    #[error("interrupted by {0}: the build container and the step's layer were removed")]
    Interrupted(String),
    #[error("{0}")]
    Substitution(String),
    #[error("{0}")]
    Invalid(String),
    #[error("RUN needs a shell: the stage has no layers (FROM scratch without ADD or COPY)")]
    RunOnScratch,
    #[error(transparent)]
    Files(#[from] files::FilesError),
    #[error(transparent)]
    Layers(#[from] layers::LayersError),
    #[error(transparent)]
    Image(Box<crate::image::ImageError>),
    #[error(transparent)]
    Lifecycle(Box<crate::lifecycle::LifecycleError>),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Walk(#[from] crate::fsutil::tree::WalkError),
    #[error(transparent)]
    Name(#[from] crate::names::NameError),
}

impl From<crate::image::ImageError> for BuildError {
    fn from(e: crate::image::ImageError) -> Self {
        Self::Image(Box::new(e))
    }
}

impl From<crate::lifecycle::LifecycleError> for BuildError {
    fn from(e: crate::lifecycle::LifecycleError) -> Self {
        Self::Lifecycle(Box::new(e))
    }
}

impl From<crate::home::HomeError> for BuildError {
    fn from(e: crate::home::HomeError) -> Self {
        Self::Image(Box::new(e.into()))
    }
}
