// The page's language. Django's JavaScript catalogue (/jsi18n/, loaded by every page before
// the viewer) defines gettext() and interpolate() as globals; without it the text is English.
// The msgids are extracted from these sources by `manage.py makemessages -d djangojs -e js,ts`
// (xgettext's JavaScript keyword `_`).

interface Catalogue {
  gettext?: (text: string) => string;
  interpolate?: (format: string, values: Record<string, unknown>, named: boolean) => string;
}

const page = globalThis as unknown as Catalogue;

/** ``text`` in the page's language. */
export function _(text: string): string {
  return typeof page.gettext === "function" ? page.gettext(text) : text;
}

/** ``text`` (already translated) with its ``%(name)s`` placeholders filled. */
export function fmt(text: string, values: Record<string, unknown>): string {
  if (typeof page.interpolate === "function") {
    return page.interpolate(text, values, true);
  }
  return text.replace(/%\((\w+)\)s/g, (_match, name: string) => String(values[name] ?? ""));
}
