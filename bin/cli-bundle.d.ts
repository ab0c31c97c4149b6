// Types of cli-bundle.js for the TypeScript that imports it (bench/drain-child.ts).

/** The bundled CLI's entry (built on first use), or undefined where it cannot be built; sets the key worker bundles are named by. */
export function bundledCli(): Promise<URL | undefined>;

/** The esbuild plugin that puts each TypeScript source's own file URL in place of import.meta.url. */
export const importMetaUrlPlugin: import("esbuild").Plugin;
