//! Step 3 of a plan: the build order of the packages, or the cycle that prevents one.
//!
//! The packages form a DAG (petgraph): an edge from each dependency to its dependant.
//! The order is Kahn's algorithm with a tie-break: among the packages whose dependencies
//! are all placed, the one discovered first goes first (node indices follow discovery
//! order). The tie-break keeps `hit status` and `hit show` listing packages the way the
//! profile names them; petgraph's own `toposort` is depth-first and takes no tie-break,
//! so the loop is ours, over petgraph's graph.
//!
//! A cycle is reported by petgraph's algorithms: the strongly connected components
//! (`tarjan_scc`) find the cyclic packages, and the shortest way back from the first of
//! them to itself (`astar` over the dependency direction) is the cycle shown,
//! `a -> b -> c -> a`, where each package depends on the next.

use super::discover::Discovered;
use crate::error::LangError;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{EdgeRef, Reversed};
use std::collections::BTreeSet;

pub(super) fn build_order(discovered: &Discovered) -> Result<Vec<String>, LangError> {
    let graph = graph_of(discovered);
    let mut waiting: Vec<usize> = graph
        .node_indices()
        .map(|node| {
            graph
                .neighbors_directed(node, petgraph::Direction::Incoming)
                .count()
        })
        .collect();
    let mut ready: BTreeSet<NodeIndex> = graph
        .node_indices()
        .filter(|node| waiting[node.index()] == 0)
        .collect();
    let mut order = Vec::with_capacity(discovered.order.len());
    while let Some(node) = ready.pop_first() {
        order.push(graph[node].to_owned());
        for next in graph.neighbors_directed(node, petgraph::Direction::Outgoing) {
            waiting[next.index()] -= 1;
            if waiting[next.index()] == 0 {
                ready.insert(next);
            }
        }
    }
    if order.len() == discovered.order.len() {
        return Ok(order);
    }
    let cycle = find_cycle(&graph);
    let first = &discovered.packages[cycle[0].as_str()];
    Err(first.error(format!("dependency cycle: {}", cycle.join(" -> "))))
}

/// Nodes in discovery order; an edge from each dependency to its dependant.
fn graph_of(discovered: &Discovered) -> DiGraph<&str, ()> {
    let mut graph: DiGraph<&str, ()> = DiGraph::new();
    let nodes: std::collections::HashMap<&str, NodeIndex> = discovered
        .order
        .iter()
        .map(|name| (name.as_str(), graph.add_node(name.as_str())))
        .collect();
    for (name, package) in &discovered.packages {
        for dep in package.needs() {
            graph.update_edge(nodes[dep.as_str()], nodes[name.as_str()], ());
        }
    }
    graph
}

/// A cycle as names, each depending on the next, the first repeated at the end. The graph
/// must have one (Kahn's algorithm stopped short).
fn find_cycle(graph: &DiGraph<&str, ()>) -> Vec<String> {
    let cyclic = |component: &Vec<NodeIndex>| {
        component.len() > 1 || graph.contains_edge(component[0], component[0])
    };
    let start = petgraph::algo::tarjan_scc(graph)
        .into_iter()
        .filter(cyclic)
        .filter_map(|component| component.into_iter().min())
        .min()
        .expect("a graph that has no topological order has a cycle");
    // Dependencies are the reversed edges: walk from each dependency of `start` back to it.
    let dependencies = Reversed(graph);
    let path = graph
        .edges_directed(start, petgraph::Direction::Incoming)
        .filter_map(|edge| {
            petgraph::algo::astar(dependencies, edge.source(), |n| n == start, |_| 1, |_| 0)
        })
        .min_by_key(|(cost, _)| *cost)
        .map(|(_, path)| path)
        .expect("a node of a cyclic component reaches itself");
    std::iter::once(start)
        .chain(path)
        .map(|node| graph[node].to_owned())
        .collect()
}
