// Builds the viewer into ../frontend/static/viewer for Django's staticfiles: hashed file
// names plus a manifest that the `viewer_assets` template tag reads. Everything the viewer
// needs at run time (decode worker, codec WebAssembly) is emitted here and served from our
// own origin; nothing is fetched from a CDN.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";

const require = createRequire(import.meta.url);

/**
 * The DICOM image loader locates its codec WebAssembly with
 * `new URL("@cornerstonejs/codec-x/decodewasm", import.meta.url)`, a bare package specifier
 * that Vite's asset handling does not resolve. Rewrite each into an explicit `?url` import so
 * the .wasm file is emitted as a hashed asset next to the worker that loads it.
 */
function codecWasmUrls(): Plugin {
  const pattern = /new URL\(\s*['"](@cornerstonejs\/codec-[\w-]+\/[\w-]+)['"]\s*,\s*import\.meta\.url\s*\)/g;
  return {
    name: "sagittal-codec-wasm-urls",
    enforce: "pre",
    transform(code, id) {
      if (!id.includes("@cornerstonejs/dicom-image-loader") || !pattern.test(code)) {
        return null;
      }
      pattern.lastIndex = 0;
      const imports: string[] = [];
      const rewritten = code.replace(pattern, (_match, specifier: string) => {
        const name = `__sagittalWasm${imports.length}`;
        imports.push(`import ${name} from ${JSON.stringify(`${require.resolve(specifier)}?url`)};`);
        return `new URL(${name}, import.meta.url)`;
      });
      return { code: `${imports.join("\n")}\n${rewritten}`, map: null };
    },
  };
}

/**
 * Code the viewer never runs, kept out of the page's script (a fifth of it, parsed before the
 * first image otherwise): vtk.js's WebGPU profiles (cornerstone renders with WebGL) resolve to an
 * empty module, and xmlbuilder2 (with its DOM and YAML dependencies), which only vtk.js's XML
 * mesh reader and writer use, to a stub that says so if it is ever called.
 */
function withoutUnusedCode(): Plugin {
  const empty = "\0sagittal-empty-module";
  const noXml = "\0sagittal-no-xmlbuilder2";
  return {
    name: "sagittal-without-unused-code",
    enforce: "pre",
    resolveId(source, importer) {
      if (!importer?.includes("@kitware/vtk.js")) {
        return null;
      }
      if (/(^|\/)WebGPU\/Profiles\//.test(source)) {
        return empty;
      }
      return source === "xmlbuilder2" ? noXml : null;
    },
    load(id) {
      if (id === empty) {
        return "export {};";
      }
      if (id === noXml) {
        return (
          "export function create() {\n" +
          '  throw new Error("VTK XML files are not supported by the Sagittal viewer");\n' +
          "}\n"
        );
      }
      return null;
    },
  };
}

/** The image loader's byte-by-byte boundary search, replaced by src/multipartSearch.js. */
function fastMultipartSearch(): Plugin {
  const replacement = fileURLToPath(new URL("./src/multipartSearch.js", import.meta.url));
  return {
    name: "sagittal-fast-multipart-search",
    enforce: "pre",
    resolveId(source, importer) {
      if (
        importer?.includes("@cornerstonejs/dicom-image-loader") &&
        source.endsWith("/findIndexOfString.js")
      ) {
        return replacement;
      }
      return null;
    },
  };
}

export default defineConfig({
  // Relative URLs: chunks, workers and assets find each other next to the importing module,
  // whatever STATIC_URL (or ManifestStaticFilesStorage's extra hash) the deployment uses.
  base: "./",
  publicDir: false,
  plugins: [codecWasmUrls(), withoutUnusedCode(), fastMultipartSearch()],
  worker: {
    format: "es",
    plugins: () => [codecWasmUrls()],
  },
  build: {
    outDir: "static/viewer",
    emptyOutDir: true,
    manifest: "manifest.json",
    target: "es2022",
    sourcemap: false,
    // cornerstone3D and vtk.js are large; one lazily shared chunk is expected.
    chunkSizeWarningLimit: 6000,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    rollupOptions: {
      input: { viewer: "src/main.ts" },
      output: {
        // The lazily loaded tools chunk would otherwise be called "esm" after its folder.
        chunkFileNames: (chunk) =>
          chunk.facadeModuleId?.includes("@cornerstonejs/tools/")
            ? "assets/tools-[hash].js"
            : "assets/[name]-[hash].js",
      },
    },
  },
});
