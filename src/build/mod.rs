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
