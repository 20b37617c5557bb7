//! Cascaded scaling: a rendition at least 1.5 times smaller (in each dimension)
//! than another running rendition of the same source scales from that one's
//! picture instead of the full-size decoded one. 1080p -> 720p -> 360p reads a
//! quarter of the pixels for the last step that 1080p -> 360p would: in the
//! 4-rung benchmark this is most of the CPU the ladder saves over the ffmpeg CLI.
//!
//! The decode thread hands work to the roots only; every rendition passes each
//! item on to its children, the video as its scaled picture, so each rendition
//! sees the same items in the same order as if it were fed directly. A rendition
//! that scales on the GPU (NVENC with scale_cuda) is always a root and no parent.

use std::sync::Arc;

use super::rendition::{RenditionList, RenditionWorker};

/// Linear size ratio from which a larger rendition is used as a scaling source.
const MIN_RATIO: f64 = 1.5;

#[derive(Default)]
pub(super) struct Cascade {
    /// What the plan was made for: the rendition list (kept, so a new list at a
    /// reused address is still new) and the source's picture size.
    made_for: Option<(RenditionList, Option<(u32, u32)>)>,
    roots: Vec<Arc<RenditionWorker>>,
}

impl Cascade {
    /// The renditions the decode thread feeds; re-planned when the list or the
    /// source's picture size changed.
    pub fn roots(
        &mut self,
        all: &RenditionList,
        source: Option<(u32, u32)>,
    ) -> Vec<Arc<RenditionWorker>> {
        let current = self
            .made_for
            .as_ref()
            .is_some_and(|(list, size)| Arc::ptr_eq(list, all) && *size == source);
        if !current {
            self.roots = plan(all, source);
            self.made_for = Some((Arc::clone(all), source));
        }
        self.roots.clone()
    }
}

/// Sets every rendition's children and returns the roots. Without a known
/// source size every rendition is a root.
fn plan(all: &[Arc<RenditionWorker>], source: Option<(u32, u32)>) -> Vec<Arc<RenditionWorker>> {
    let Some((width, height)) = source else {
        all.iter().for_each(|r| r.set_children(Vec::new()));
        return all.to_vec();
    };
    let source_area = f64::from(width) * f64::from(height);
    let area = |r: &RenditionWorker| {
        let (w, h) = r.profile.output_size(width, height);
        f64::from(w) * f64::from(h)
    };
    let mut children: Vec<Vec<Arc<RenditionWorker>>> = vec![Vec::new(); all.len()];
    let mut roots = Vec::new();
    for child in all {
        if child.gpu_scaling {
            // Scales the decoded picture on the GPU: nothing to save on the CPU.
            roots.push(Arc::clone(child));
            continue;
        }
        let child_area = area(child);
        let parent = all
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                let p_area = area(p);
                if p.gpu_scaling {
                    // Its picture stays on the GPU.
                    return false;
                }
                // A real downscale of the source, big enough to be worth it, and
                // with every picture the child needs.
                p_area < source_area
                    && p_area >= child_area * MIN_RATIO * MIN_RATIO
                    && (p.profile.fps == 0
                        || (child.profile.fps != 0 && child.profile.fps <= p.profile.fps))
            })
            .min_by(|(_, a), (_, b)| area(a).total_cmp(&area(b)));
        match parent {
            Some((index, _)) => {
                if let Some(list) = children.get_mut(index) {
                    list.push(Arc::clone(child));
                }
            }
            None => roots.push(Arc::clone(child)),
        }
    }
    for (rendition, list) in all.iter().zip(children) {
        rendition.set_children(list);
    }
    roots
}
