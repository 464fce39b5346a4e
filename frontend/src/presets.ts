// Window presets. CT values are in HU; "mri-auto" derives a window from the image itself,
// because MR intensities have no absolute scale.
import { _ } from "./i18n";

export type WindowPresetName = "ct-bone" | "ct-soft" | "ct-spine" | "mri-auto";

export interface Window {
  width: number;
  center: number;
}

export const CT_PRESETS: Record<Exclude<WindowPresetName, "mri-auto">, Window & { label: string }> =
  {
    "ct-bone": { label: _("CT bone"), width: 2000, center: 500 },
    "ct-soft": { label: _("CT soft tissue"), width: 400, center: 40 },
    // Spinal canal and cord against the surrounding fat and disc.
    "ct-spine": { label: _("CT spine (canal)"), width: 250, center: 50 },
  };

export const PRESET_LABELS: Record<WindowPresetName, string> = {
  "ct-bone": CT_PRESETS["ct-bone"].label,
  "ct-soft": CT_PRESETS["ct-soft"].label,
  "ct-spine": CT_PRESETS["ct-spine"].label,
  "mri-auto": _("MRI auto"),
};

export function isPresetName(value: unknown): value is WindowPresetName {
  return typeof value === "string" && value in PRESET_LABELS;
}

/** The default preset of a modality when the hanging protocol names none. */
export function defaultPreset(modality: string): WindowPresetName | undefined {
  if (modality === "CT") {
    return "ct-soft";
  }
  if (modality === "MR") {
    return "mri-auto";
  }
  return undefined;
}

/**
 * A window over the 1st..99.5th percentile of the (rescaled) values: robust to the air
 * background and to a few very bright voxels (fat, flow artefacts).
 */
export function autoWindow(values: ArrayLike<number>, slope = 1, intercept = 0): Window {
  const n = values.length;
  if (!n) {
    return { width: 1, center: 0 };
  }
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i += 1) {
    const v = values[i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (max <= min) {
    return { width: 1, center: min * slope + intercept };
  }
  const bins = 1024;
  const histogram = new Uint32Array(bins);
  const scale = (bins - 1) / (max - min);
  for (let i = 0; i < n; i += 1) {
    histogram[Math.floor((values[i] - min) * scale)] += 1;
  }
  const quantile = (q: number): number => {
    const target = q * n;
    let seen = 0;
    for (let b = 0; b < bins; b += 1) {
      seen += histogram[b];
      if (seen >= target) {
        return min + b / scale;
      }
    }
    return max;
  };
  const low = quantile(0.01) * slope + intercept;
  const high = quantile(0.995) * slope + intercept;
  return { width: Math.max(high - low, 1), center: (high + low) / 2 };
}

/** DICOM window (C.11.2.1.2.1, linear) as the VOI range cornerstone takes. */
export function toRange({ width, center }: Window): { lower: number; upper: number } {
  return { lower: center - 0.5 - (width - 1) / 2, upper: center - 0.5 + (width - 1) / 2 };
}

export function fromRange({ lower, upper }: { lower: number; upper: number }): Window {
  return { width: upper - lower + 1, center: (upper + lower) / 2 + 0.5 };
}
