// Slice synchronization between viewports that share a frame of reference and look along the
// same axis (CT and pseudo-MRI of one study do): followers jump to the slice nearest to the
// leader's plane. Window/level is never synchronized (CT and MRI scales differ).
import { type Types, utilities as csUtils } from "@cornerstonejs/core";

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

type SliceViewport = Types.IStackViewport | Types.IVolumeViewport;

function asSliced(viewport: Types.IViewport): SliceViewport | null {
  const sliced = viewport as unknown as SliceViewport;
  return typeof sliced.getSliceIndex === "function" && viewport.type !== "volume3d"
    ? sliced
    : null;
}

export class SliceSync {
  /** Slices we sent followers to: their "new image" events must not make them lead. */
  private readonly expected = new Map<Types.IViewport, number>();

  constructor(private readonly viewports: () => Types.IViewport[]) {}

  /** Bring every compatible viewport to the plane ``leader`` now shows. */
  follow(leaderViewport: Types.IViewport): void {
    const leader = asSliced(leaderViewport);
    if (!leader) {
      return;
    }
    const index = leader.getSliceIndex();
    const wanted = this.expected.get(leaderViewport);
    this.expected.delete(leaderViewport);
    if (wanted === index) {
      return;
    }
    const frame = leader.getFrameOfReferenceUID();
    const { focalPoint, viewPlaneNormal } = leader.getCamera();
    if (!frame || !viewPlaneNormal || !focalPoint) {
      return;
    }
    for (const candidate of this.viewports()) {
      const viewport = asSliced(candidate);
      if (candidate === leaderViewport || !viewport) {
        continue;
      }
      if (viewport.getFrameOfReferenceUID() !== frame) {
        continue;
      }
      const normal = viewport.getCamera().viewPlaneNormal;
      if (!normal || Math.abs(dot(normal, viewPlaneNormal)) < 0.99) {
        continue;
      }
      const before = viewport.getSliceIndex();
      if (viewport.type === "stack") {
        const stack = viewport as unknown as Types.IStackViewport;
        const target = csUtils.getClosestStackImageIndexForPoint(focalPoint, stack);
        if (target !== null && target !== undefined && target >= 0 && target !== before) {
          this.expected.set(candidate, target);
          void stack.setImageIdIndex(target);
        }
      } else {
        (viewport as unknown as Types.IVolumeViewport).jumpToWorld(focalPoint);
        const after = viewport.getSliceIndex();
        if (after !== before) {
          this.expected.set(candidate, after);
          viewport.render();
        }
      }
    }
  }
}
