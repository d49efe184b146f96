//! `hit graph`: a profile's dependency DAG as text, Graphviz dot or Mermaid.
//!
//! From a profile script the graph is the plan's: an edge per `deps` entry (run time) and
//! per `build_deps` entry (build only). From a built profile (a link, or a profile script
//! whose plan cache entry says it is built and unchanged) it is read from the store without
//! evaluating anything: each artifact's recorded imports, where an import
//! that is not in the profile's tree counts as build only (a run-time dependency is always
//! linked with its dependant).

use super::contents::profile_contents;
use super::{ProfileRequest, Result};
use hit_engine::home::Home;
use hit_engine::spec::ArtifactId;
use hit_engine::store::Store;
use std::collections::HashMap;
use std::fmt::Write;

/// A profile's packages and what each needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    pub profile: String,
    /// In build order (dependencies first) for a plan; the profile's order, then build
    /// tools, for a link.
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub version: Option<String>,
    pub id: ArtifactId,
    /// In the profile's tree (else only needed to build others).
    pub linked: bool,
}

/// `from` needs `to` (indices into `nodes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    pub build_only: bool,
}

/// The graph of a profile script (planned) or of a built profile (a directory: read from
/// the store).
pub fn graph(home: &Home, target: &ProfileRequest) -> Result<Graph> {
    if target.file.is_dir() {
        return graph_of_link(home, target);
    }
    // Built, and nothing that went into it changed: the store has the graph.
    if let Some(built) = super::build::built_profile_unchanged(home, target)? {
        let built = ProfileRequest {
            file: built,
            params: Vec::new(),
        };
        return graph_of_link(home, &built);
    }
    let plan = super::load_plan(target, None)?;
    let index: HashMap<&str, usize> = plan
        .packages
        .iter()
        .enumerate()
        .map(|(i, package)| (package.name.as_str(), i))
        .collect();
    let nodes = plan
        .packages
        .iter()
        .map(|package| Node {
            name: package.name.clone(),
            version: package.recipe.version.clone(),
            id: package.spec.id().clone(),
            linked: package.linked,
        })
        .collect();
    let mut edges = Vec::new();
    for (from, package) in plan.packages.iter().enumerate() {
        for (deps, build_only) in [
            (&package.recipe.deps, false),
            (&package.recipe.build_deps, true),
        ] {
            edges.extend(deps.iter().map(|dep| Edge {
                from,
                to: index[dep.as_str()],
                build_only,
            }));
        }
    }
    Ok(Graph {
        profile: plan.profile.name.clone(),
        nodes,
        edges,
    })
}

fn graph_of_link(home: &Home, target: &ProfileRequest) -> Result<Graph> {
    let contents = profile_contents(home, target)?;
    let store = Store::for_home(home);
    let mut nodes: Vec<Node> = contents
        .packages
        .iter()
        .map(|package| Node {
            name: package.name.clone(),
            version: package.spec.version.clone(),
            id: package.id.clone(),
            linked: true,
        })
        .collect();
    let mut index: HashMap<ArtifactId, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| (node.id.clone(), i))
        .collect();
    let mut edges = Vec::new();
    // Build tools are found through the imports of what uses them, and may have their own.
    let mut queue: Vec<(usize, Vec<ArtifactId>)> = contents
        .packages
        .iter()
        .enumerate()
        .map(|(i, package)| (i, package.spec.imports.clone()))
        .collect();
    while let Some((from, imports)) = queue.pop() {
        for id in imports {
            let to = match index.get(&id) {
                Some(&to) => to,
                None => {
                    let path = store.resolve(&id)?;
                    let meta = path
                        .as_deref()
                        .map(|path| store.read_meta(path))
                        .transpose()?;
                    nodes.push(Node {
                        name: id.name().to_string(),
                        version: meta.as_ref().and_then(|meta| meta.version.clone()),
                        id: id.clone(),
                        linked: false,
                    });
                    let to = nodes.len() - 1;
                    index.insert(id, to);
                    queue.push((to, meta.map(|meta| meta.imports).unwrap_or_default()));
                    to
                }
            };
            edges.push(Edge {
                from,
                to,
                build_only: !nodes[to].linked,
            });
        }
    }
    edges.sort_by_key(|edge| (edge.from, edge.to));
    Ok(Graph {
        profile: contents.name.unwrap_or_else(|| "profile".into()),
        nodes,
        edges,
    })
}

impl Graph {
    fn label(&self, node: usize) -> String {
        let node = &self.nodes[node];
        match &node.version {
            Some(version) => format!("{} {version}", node.name),
            None => node.name.clone(),
        }
    }

    fn needs(&self, node: usize) -> impl Iterator<Item = &Edge> {
        self.edges.iter().filter(move |edge| edge.from == node)
    }

    /// A tree from each package nothing else needs, as `cargo tree` draws one: a package
    /// seen before is marked `(*)` and not expanded again; build-only edges say `[build]`.
    pub fn to_text(&self) -> String {
        let needed: Vec<bool> = (0..self.nodes.len())
            .map(|node| self.edges.iter().any(|edge| edge.to == node))
            .collect();
        let mut out = String::new();
        let mut seen = vec![false; self.nodes.len()];
        for root in (0..self.nodes.len()).filter(|&node| !needed[node]) {
            self.draw(root, "", "", None, &mut seen, &mut out);
        }
        out
    }

    fn draw(
        &self,
        node: usize,
        first: &str,
        rest: &str,
        via: Option<&Edge>,
        seen: &mut [bool],
        out: &mut String,
    ) {
        let kind = if via.is_some_and(|edge| edge.build_only) {
            " [build]"
        } else {
            ""
        };
        let again = if seen[node] && self.needs(node).next().is_some() {
            " (*)"
        } else {
            ""
        };
        let _ = writeln!(out, "{first}{}{kind}{again}", self.label(node));
        if seen[node] {
            return;
        }
        seen[node] = true;
        let children: Vec<&Edge> = self.needs(node).collect();
        for (i, edge) in children.iter().enumerate() {
            let last = i + 1 == children.len();
            let (branch, more) = if last {
                ("└── ", "    ")
            } else {
                ("├── ", "│   ")
            };
            self.draw(
                edge.to,
                &format!("{rest}{branch}"),
                &format!("{rest}{more}"),
                Some(edge),
                seen,
                out,
            );
        }
    }

    /// Graphviz: run-time edges solid, build-only dashed, build tools in grey boxes.
    pub fn to_dot(&self) -> String {
        let mut out = format!("digraph {} {{\n  rankdir=LR;\n", quoted(&self.profile));
        for (i, node) in self.nodes.iter().enumerate() {
            let style = if node.linked {
                ""
            } else {
                ", shape=box, color=grey"
            };
            let _ = writeln!(out, "  n{i} [label={}{style}];", quoted(&self.label(i)));
        }
        for edge in &self.edges {
            let style = if edge.build_only {
                " [style=dashed, label=\"build\"]"
            } else {
                ""
            };
            let _ = writeln!(out, "  n{} -> n{}{style};", edge.from, edge.to);
        }
        out.push_str("}\n");
        out
    }

    /// Mermaid: run-time edges `-->`, build-only `-.->|build|`.
    pub fn to_mermaid(&self) -> String {
        let mut out = String::from("graph LR\n");
        for i in 0..self.nodes.len() {
            let label = self.label(i).replace('"', "#quot;");
            let _ = writeln!(out, "  n{i}[\"{label}\"]");
        }
        for edge in &self.edges {
            let arrow = if edge.build_only {
                "-.->|build|"
            } else {
                "-->"
            };
            let _ = writeln!(out, "  n{} {arrow} n{}", edge.from, edge.to);
        }
        out
    }
}

fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}
