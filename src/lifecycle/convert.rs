//! `to_image` and `to_container` (SPEC §5): the checks and the locks; the
//! move itself, safe against a kill or a failure at any point, is
//! [`crate::conversion`]. Each consumes what it converts.

use super::create::{config_for, resolve_stack, with_image_defaults, NewContainer};
use super::LifecycleError;
use crate::container::Status;
use crate::image::Pick;
use crate::names::{ImageRef, Name, Version};
use crate::runtime::Runtime;

/// `to_image`: stopped container `container` becomes image `image:version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToImageRequest {
    pub container: Name,
    pub image: Name,
    pub version: Version,
}

/// `to_container`: image `image` (its only version, or the one named)
/// becomes the writable layer of new container `container`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToContainerRequest {
    pub image: ImageRef,
    pub container: Name,
    /// The stack below the layer; None: the base layers the image records.
    pub bases: Option<Vec<ImageRef>>,
    pub new: NewContainer,
}

/// What became what: `from` is gone, `to` holds its layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    /// `web` (a container) or `web:1.0` (an image).
    pub from: String,
    pub to: String,
}

/// The container's writable layer becomes the image, recording the
/// container's images as its base layers; the container is consumed.
pub fn to_image(rt: &Runtime, req: &ToImageRequest) -> Result<Converted, LifecycleError> {
    let (from, to, version) = (&req.container, &req.image, &req.version);
    let _c = rt.containers.lock(from)?;
    let config = rt.containers.config(from)?;
    if let Status::Running { pid } = rt.containers.status(from)? {
        return Err(LifecycleError::Running {
            name: from.to_string(),
            pid,
            hint: "shut it down first",
        });
    }
    rt.release(from)?;
    let _i = rt.images.lock(to)?;
    crate::conversion::to_image(rt, from, &config, to, version)?;
    crate::logging::info(&format!(
        "container {from} turned into image {to}:{version}"
    ));
    Ok(Converted {
        from: from.to_string(),
        to: format!("{to}:{version}"),
    })
}

/// The image's layer becomes the writable layer of a new container
/// stacked on its bases; the image is consumed. An image that a container
/// uses, or that is a base layer of another image, stays.
pub fn to_container(rt: &Runtime, req: &ToContainerRequest) -> Result<Converted, LifecycleError> {
    let (from, to) = (&req.image, &req.container);
    let _i = rt.images.lock(&from.name)?;
    let version = rt.images.resolve(from, Pick::Only)?;
    let entry = rt.images.entry(&from.name, &version)?;
    let image = format!("{}:{version}", from.name);
    let users = rt.images.users(&from.name, &version)?;
    if !users.is_empty() {
        return Err(LifecycleError::ImageInUse {
            image,
            containers: crate::image::user_list(&users),
        });
    }
    let dependents = rt.images.dependents(&from.name, &version)?;
    if !dependents.is_empty() {
        return Err(LifecycleError::ImageIsBase {
            image,
            dependents: dependents.join(", "),
        });
    }
    let bases = match &req.bases {
        Some(list) => resolve_stack(rt, list)?,
        None => entry
            .meta
            .base_layers
            .iter()
            .map(|b| b.parse())
            .collect::<Result<Vec<ImageRef>, _>>()?,
    };
    if bases.is_empty() {
        return Err(LifecycleError::NoBaseLayers { image });
    }
    for b in &bases {
        rt.images.resolve(b, Pick::Highest)?;
    }
    let _c = rt.containers.lock(to)?;
    if rt.containers.exists(to) {
        return Err(crate::container::ContainerError::Exists(to.to_string()).into());
    }
    // The image's variables (and workdir, user) go with its layer, as
    // `create` gives them to a container made on it.
    let new = with_image_defaults(entry.meta.config.clone(), &req.new);
    let (config, allocation_locks) = config_for(rt, to, bases, &new)?;
    crate::conversion::to_container(rt, &from.name, &version, &config)?;
    drop(allocation_locks);
    crate::logging::info(&format!("image {image} turned into container {to}"));
    Ok(Converted {
        from: image,
        to: to.to_string(),
    })
}
