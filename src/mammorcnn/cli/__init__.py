"""mammorcnn.cli"""
