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
    let nodes: Vec<Node> = all
        .iter()
        .map(|r| Node {
            size: r.profile.output_size(width, height),
            fps: r.profile.fps,
            gpu_scaling: r.gpu_scaling,
        })
        .collect();
    let parents = parents(&nodes, (width, height));
    let mut children: Vec<Vec<Arc<RenditionWorker>>> = vec![Vec::new(); all.len()];
    let mut roots = Vec::new();
    for (child, parent) in all.iter().zip(parents) {
        match parent.and_then(|index| children.get_mut(index)) {
            Some(list) => list.push(Arc::clone(child)),
            None => roots.push(Arc::clone(child)),
        }
    }
    for (rendition, list) in all.iter().zip(children) {
        rendition.set_children(list);
    }
    roots
}

/// What the plan needs to know of a rendition.
#[derive(Clone, Copy)]
struct Node {
    /// Output size for the current source.
    size: (u32, u32),
    /// Frame-rate cap, 0 for none.
    fps: u32,
    /// Scales on the GPU (always a root, never a parent).
    gpu_scaling: bool,
}

/// Each node's parent: the smallest other rendition that is a real downscale of
/// the source and at least `MIN_RATIO` larger in each dimension, with every
/// picture the child needs; `None` makes it a root.
fn parents(nodes: &[Node], source: (u32, u32)) -> Vec<Option<usize>> {
    let area = |(w, h): (u32, u32)| u64::from(w) * u64::from(h);
    nodes
        .iter()
        .map(|child| {
            if child.gpu_scaling {
                // Scales the decoded picture on the GPU: nothing to save on the CPU.
                return None;
            }
            nodes
                .iter()
                .enumerate()
                .filter(|(_, parent)| {
                    // Its picture stays on the GPU.
                    !parent.gpu_scaling
                        && area(parent.size) < area(source)
                        && larger_by(parent.size, child.size, MIN_RATIO)
                        && (parent.fps == 0 || (child.fps != 0 && child.fps <= parent.fps))
                })
                .min_by_key(|(_, parent)| area(parent.size))
                .map(|(index, _)| index)
        })
        .collect()
}

/// Whether `larger` is at least `ratio` times `smaller` in each dimension, up to
/// the rounding of sizes to even pixels: a 480-line rung of a 16:9 source is
/// 854 wide (853.3 rounded), and 1280x720 is still 1.5 times that.
fn larger_by(larger: (u32, u32), smaller: (u32, u32), ratio: f64) -> bool {
    let dimension = |l: u32, s: u32| f64::from(l) >= f64::from(s.saturating_sub(1)) * ratio;
    dimension(larger.0, smaller.0) && dimension(larger.1, smaller.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(width: u32, height: u32) -> Node {
        Node {
            size: (width, height),
            fps: 0,
            gpu_scaling: false,
        }
    }

    #[test]
    fn the_standard_ladder_scales_480p_and_360p_from_720p() {
        let ladder = [
            node(1920, 1080),
            node(1280, 720),
            node(854, 480),
            node(640, 360),
        ];
        assert_eq!(
            parents(&ladder, (1920, 1080)),
            [None, None, Some(1), Some(1)]
        );
    }

    #[test]
    fn a_rendition_less_than_one_and_a_half_times_smaller_scales_from_the_source() {
        // 960x540 is 1.33 times smaller than 1280x720.
        let ladder = [node(1280, 720), node(960, 540)];
        assert_eq!(parents(&ladder, (1920, 1080)), [None, None]);
    }

    #[test]
    fn the_source_sized_rung_and_gpu_scaled_rungs_are_no_parents() {
        let gpu = Node {
            gpu_scaling: true,
            ..node(1280, 720)
        };
        assert_eq!(
            parents(&[node(1920, 1080), node(640, 360)], (1920, 1080)),
            [None, None]
        );
        assert_eq!(parents(&[gpu, node(640, 360)], (1920, 1080)), [None, None]);
        assert_eq!(parents(&[node(1280, 720), gpu], (1920, 1080)), [None, None]);
    }

    #[test]
    fn a_child_needs_every_picture_of_its_parent_rate() {
        let capped = |fps| Node {
            fps,
            ..node(1280, 720)
        };
        let child = |fps| Node {
            fps,
            ..node(640, 360)
        };
        assert_eq!(parents(&[capped(30), child(0)], (1920, 1080)), [None, None]);
        assert_eq!(
            parents(&[capped(30), child(60)], (1920, 1080)),
            [None, None]
        );
        assert_eq!(
            parents(&[capped(30), child(30)], (1920, 1080)),
            [None, Some(0)]
        );
        assert_eq!(
            parents(&[capped(0), child(0)], (1920, 1080)),
            [None, Some(0)]
        );
    }
}
