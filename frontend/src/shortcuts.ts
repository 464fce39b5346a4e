// Keyboard shortcuts, listed in the help overlay from this one table.
import { _ } from "./i18n";

export type Action =
  | "next-slice"
  | "previous-slice"
  | "next-slice-10"
  | "previous-slice-10"
  | "first-slice"
  | "last-slice"
  | "tool:WindowLevel"
  | "tool:Zoom"
  | "tool:Pan"
  | "tool:Length"
  | "tool:Angle"
  | "tool:EllipticalROI"
  | "tool:RectangleROI"
  | "preset:ct-soft"
  | "preset:ct-bone"
  | "preset:ct-spine"
  | "preset:mri-auto"
  | "reset"
  | "toggle-overlay"
  | "overlay-more"
  | "overlay-less"
  | "delete-measurement"
  | "next-case"
  | "previous-case"
  | "help";

export interface Shortcut {
  keys: string[];
  action: Action;
  label: string;
}

export const SHORTCUTS: Shortcut[] = [
  { keys: ["ArrowDown", "j"], action: "next-slice", label: _("Next slice (or mouse wheel)") },
  { keys: ["ArrowUp", "k"], action: "previous-slice", label: _("Previous slice") },
  { keys: ["PageDown"], action: "next-slice-10", label: _("10 slices forward") },
  { keys: ["PageUp"], action: "previous-slice-10", label: _("10 slices back") },
  { keys: ["Home"], action: "first-slice", label: _("First slice") },
  { keys: ["End"], action: "last-slice", label: _("Last slice") },
  { keys: ["w"], action: "tool:WindowLevel", label: _("Window/level (left drag)") },
  { keys: ["z"], action: "tool:Zoom", label: _("Zoom (also right drag)") },
  { keys: ["p"], action: "tool:Pan", label: _("Pan (also middle drag)") },
  { keys: ["l"], action: "tool:Length", label: _("Length") },
  { keys: ["a"], action: "tool:Angle", label: _("Angle") },
  { keys: ["e"], action: "tool:EllipticalROI", label: _("Elliptical ROI (mean, SD, area)") },
  { keys: ["r"], action: "tool:RectangleROI", label: _("Rectangular ROI (mean, SD, area)") },
  { keys: ["1"], action: "preset:ct-soft", label: _("CT soft-tissue window") },
  { keys: ["2"], action: "preset:ct-bone", label: _("CT bone window") },
  { keys: ["3"], action: "preset:ct-spine", label: _("CT spine (canal) window") },
  { keys: ["4"], action: "preset:mri-auto", label: _("MRI automatic window") },
  { keys: [" "], action: "reset", label: _("Reset zoom, pan and window") },
  { keys: ["s"], action: "toggle-overlay", label: _("Show/hide segmentation") },
  { keys: ["]"], action: "overlay-more", label: _("Segmentation more opaque") },
  { keys: ["["], action: "overlay-less", label: _("Segmentation more transparent") },
  { keys: ["Delete", "Backspace"], action: "delete-measurement", label: _("Delete selected measurement") },
  { keys: ["n"], action: "next-case", label: _("Next case") },
  { keys: ["b"], action: "previous-case", label: _("Previous case") },
  { keys: ["?", "h"], action: "help", label: _("This help") },
];

const byKey = new Map<string, Action>();
for (const shortcut of SHORTCUTS) {
  for (const key of shortcut.keys) {
    byKey.set(key, shortcut.action);
  }
}

export function actionForKey(event: KeyboardEvent): Action | undefined {
  if (event.ctrlKey || event.metaKey || event.altKey) {
    return undefined;
  }
  return byKey.get(event.key) ?? byKey.get(event.key.toLowerCase());
}

export function keyLabel(key: string): string {
  const names: Record<string, string> = {
    " ": _("Space"),
    ArrowDown: "↓",
    ArrowUp: "↑",
    PageDown: "PgDn",
    PageUp: "PgUp",
    Escape: "Esc",
    Backspace: "⌫",
  };
  return names[key] ?? key.toUpperCase();
}
